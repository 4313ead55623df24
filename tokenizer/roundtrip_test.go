package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

// TestParseRefusesEmptyMergeToken: a merge with an empty token is refused
// in every form the merges come in, whichever of Parse's paths (the fast
// scanners or encoding/json) reads it. FuzzParse found that the fast
// scanner accepted [["", "a"]], which MarshalJSON then wrote as " a", a
// line Parse refuses. (Hugging Face's tokenizers would load such a merge
// when "" is in the vocab, but it can never apply: BPE starts from
// non-empty characters, so no symbol is ever "".)
func TestParseRefusesEmptyMergeToken(t *testing.T) {
	for _, tt := range []struct{ name, json string }{
		{"issue 14 input", `{"model": {"vocab": {"000":0, "a":10, "0000":1, "":11}, "merges": [["", "a"]]}}`},
		{"empty left pair", `{"model": {"vocab": {"a": 0, "": 1}, "merges": [["", "a"]]}}`},
		{"empty right pair", `{"model": {"vocab": {"a": 0, "": 1}, "merges": [["a", ""]]}}`},
		{"empty pair after a good one", `{"model": {"vocab": {"a": 0, "aa": 2, "": 1}, "merges": [["a", "a"], ["a", ""]]}}`},
		{"empty left line", `{"model": {"vocab": {"a": 0, "": 1}, "merges": [" a"]}}`},
		{"empty right line", `{"model": {"vocab": {"a": 0, "": 1}, "merges": ["a "]}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Parse([]byte(tt.json))
			if err == nil {
				out, _ := tok.MarshalJSON()
				t.Fatalf("Parse succeeded; MarshalJSON wrote\n%s", out)
			}
			if !strings.HasPrefix(err.Error(), "tokenizer.json: model.merges[") {
				t.Errorf("error %q does not name the merge", err)
			}
		})
	}
}

// TestMarshalJSONRoundTripEdgeTokens: an empty token in the vocab (with no
// merge using it) and merge tokens containing spaces survive MarshalJSON
// and Parse.
func TestMarshalJSONRoundTripEdgeTokens(t *testing.T) {
	for _, tt := range []struct{ name, json string }{
		{"empty vocab token", `{"model": {"vocab": {"000":0, "a":10, "0000":1, "":11}, "merges": []}}`},
		{"empty vocab token, merges", `{"model": {"vocab": {"0": 2, "00": 3, "000":0, "a":10, "0000":1, "":11}, "merges": [["0", "0"], ["00", "0"], ["0", "000"]]}}`},
		{"spaces in merge tokens", `{"model": {"vocab": {"a": 0, " b": 1, "a b": 2, " ": 3, "  ": 4}, "merges": [["a", " b"], [" ", " "]]}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Parse([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			out, err := tok.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(out)
			if err != nil {
				t.Fatalf("MarshalJSON output does not parse: %v\n%s", err, out)
			}
			again, err := back.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out, again) {
				t.Errorf("MarshalJSON after Parse differs:\n%s\nthen\n%s", out, again)
			}
		})
	}
}
