package data

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzDecode: Decode never panics; what it accepts is consistent, and what
// it rejects names the file.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"text": "hello"}`,
		"\xEF\xBB\xBF" + `{"prompt": "Q: 2+2?", "completion": " 4"}` + "\r\n\r\n",
		`{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " yo "}]}`,
		`{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}`,
		`{"input_ids": [1, 2, 3], "labels": [-100, 2, 3]}` + "\n" + `{"input_ids": [258]}`,
		`{"text": "a", "input_ids": [1]}`,
		`{"input_ids": [1e999, -0, 1.0]}`,
		`{"messages": [{"role": "assistant", "content": "ORTHOTUNE-ASSISTANT-CONTENT-8d2f41c7"}]}`,
		"\n\n  \n",
		`{"text": "\ud800"}`,
		"[{}]\n{",
	}
	for i, s := range seeds {
		f.Add([]byte(s), i%2 == 0, uint8(i*3), uint16(i*40))
	}
	f.Fuzz(func(t *testing.T, in []byte, assistantOnly bool, maxLen uint8, vocab uint16) {
		opts := Options{
			Tokenizer:     byteTokenizer{noSpecial: maxLen%5 == 4},
			Chat:          turnChat{trim: maxLen%2 == 0, defaultSystem: maxLen%3 == 0},
			AssistantOnly: assistantOnly,
			MaxSeqLength:  int(maxLen % 64),
			VocabSize:     int(vocab % 300),
		}
		exs, st, err := Decode(strings.NewReader(string(in)), "f.jsonl", opts)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.jsonl:") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if len(exs) == 0 || len(exs) != st.Records || st.Truncated > st.Records || st.Format == "" {
			t.Fatalf("%d examples, stats %+v", len(exs), st)
		}
		tokens, loss := 0, 0
		for i, ex := range exs {
			if len(ex.InputIDs) == 0 || len(ex.Labels) != len(ex.InputIDs) {
				t.Fatalf("example %d: %d ids, %d labels", i, len(ex.InputIDs), len(ex.Labels))
			}
			if opts.MaxSeqLength > 0 && len(ex.InputIDs) > opts.MaxSeqLength {
				t.Fatalf("example %d: %d tokens, over %d", i, len(ex.InputIDs), opts.MaxSeqLength)
			}
			for tpos, id := range ex.InputIDs {
				if id < 0 || (opts.VocabSize > 0 && id >= opts.VocabSize) {
					t.Fatalf("example %d: id %d outside the vocabulary %d", i, id, opts.VocabSize)
				}
				l := ex.Labels[tpos]
				if l != IgnoreIndex && (l < 0 || (opts.VocabSize > 0 && l >= opts.VocabSize)) {
					t.Fatalf("example %d: label %d", i, l)
				}
				if tpos > 0 && l != IgnoreIndex {
					loss++
				}
			}
			tokens += len(ex.InputIDs)
		}
		if tokens != st.Tokens || loss != st.LossTokens {
			t.Fatalf("stats %+v, counted %d tokens, %d loss targets", st, tokens, loss)
		}
	})
}

// FuzzIntArray: the fast integer-array path agrees with encoding/json
// whenever it accepts.
func FuzzIntArray(f *testing.F) {
	for _, s := range []string{`[]`, `[1, 2, 3]`, ` [ -0 , 12 ] `, `[1.5]`, `[1e3]`, `[01]`,
		`[999999999999999999]`, `[9999999999999999999]`, `[1,]`, `[1 2]`, `["1"]`, `[[1]]`, `[-]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := plainIntArray(raw)
		if !ok {
			return
		}
		var want []int64
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("accepted %q, which encoding/json rejects: %v", raw, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %v, want %v", raw, got, want)
		}
		for i := range got {
			if int64(got[i]) != want[i] {
				t.Fatalf("%q: %v, want %v", raw, got, want)
			}
		}
	})
}
