package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseIDs(t *testing.T) {
	ids, err := parseIDs([]byte(`{"input_ids": [[1, 2, 3], [4, 5, 6e0]], "attention_mask": [[1,1,1],[1,1,1]]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[1][2] != 6 {
		t.Fatalf("parseIDs = %v", ids)
	}
	for _, bad := range []string{``, `[]`, `{"input_ids": null}`, `{"input_ids": [1, 2]}`, `{"input_ids": [[1e300]]}`, `{} {}`} {
		if _, err := parseIDs([]byte(bad)); err == nil {
			t.Errorf("parseIDs(%q) accepted", bad)
		}
	}
}

// FuzzParseIDs: arbitrary bytes never panic, and accepted input round-trips
// to whole numbers.
func FuzzParseIDs(f *testing.F) {
	for _, seed := range []string{`{"input_ids": [[1, 2, 3]]}`, `{"input_ids": []}`, `{"input_ids": [[]]}`,
		`{"input_ids": [[1.5]]}`, `{"input_ids": "x"}`, `{`, `{"input_ids": [[9007199254740993]]}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ids, err := parseIDs(data)
		if err != nil {
			if !strings.Contains(err.Error(), "input_ids") && !strings.Contains(err.Error(), "JSON") && !strings.Contains(err.Error(), "unexpected data") {
				t.Errorf("error %q names neither the field nor the format", err)
			}
			return
		}
		// Accepted ids re-encode to a document that parses to the same ids.
		again, err := parseIDs(fmt.Appendf(nil, `{"input_ids": %s}`, mustJSON(t, ids)))
		if err != nil || fmt.Sprint(again) != fmt.Sprint(ids) {
			t.Errorf("round trip of %v gave %v, %v", ids, again, err)
		}
	})
}
