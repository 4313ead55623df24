package data

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDecodeFormats(t *testing.T) {
	tok := byteTokenizer{}
	const chatText = "<s><|user|>\nhi<|end|>\n<|assistant|>\nyo<|end|>\n"
	tests := []struct {
		name       string
		line       string
		opts       Options
		wantIDs    []int
		wantLabels []int
		wantFormat string
	}{
		{
			name:       "text",
			line:       `{"text": "hi"}`,
			wantIDs:    []int{fakeBOS, 'h' + 3, 'i' + 3, fakeEOS},
			wantLabels: []int{fakeBOS, 'h' + 3, 'i' + 3, fakeEOS},
			wantFormat: "text",
		},
		{
			name:       "text, tokenizer without BOS/EOS",
			line:       `{"text": "hi"}`,
			opts:       Options{Tokenizer: byteTokenizer{noSpecial: true}},
			wantIDs:    []int{'h' + 3, 'i' + 3},
			wantLabels: []int{'h' + 3, 'i' + 3},
			wantFormat: "text",
		},
		{
			name:       "prompt/completion masks the prompt",
			line:       `{"prompt": "Q:", "completion": "A"}`,
			wantIDs:    []int{fakeBOS, 'Q' + 3, ':' + 3, 'A' + 3, fakeEOS},
			wantLabels: []int{IgnoreIndex, IgnoreIndex, IgnoreIndex, 'A' + 3, fakeEOS},
			wantFormat: "prompt/completion",
		},
		{
			name:       "empty completion still learns EOS",
			line:       `{"prompt": "Q", "completion": ""}`,
			wantIDs:    []int{fakeBOS, 'Q' + 3, fakeEOS},
			wantLabels: []int{IgnoreIndex, IgnoreIndex, fakeEOS},
			wantFormat: "prompt/completion",
		},
		{
			name:       "messages, loss everywhere",
			line:       `{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo", "name": "x"}]}`,
			opts:       Options{Chat: turnChat{}},
			wantIDs:    ids(chatText),
			wantLabels: ids(chatText),
			wantFormat: "messages",
		},
		{
			name: "messages, assistant only",
			line: `{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}`,
			opts: Options{Chat: turnChat{}, AssistantOnly: true},
			wantIDs: cat(ids("<s><|user|>\nhi<|end|>\n<|assistant|>\n"),
				ids("yo<|end|>\n")),
			wantLabels: cat(fill(len("<s><|user|>\nhi<|end|>\n<|assistant|>\n"), IgnoreIndex),
				ids("yo<|end|>\n")),
			wantFormat: "messages",
		},
		{
			name:       "input_ids without labels",
			line:       `{"input_ids": [5, 0, 7]}`,
			opts:       Options{Tokenizer: nil},
			wantIDs:    []int{5, 0, 7},
			wantLabels: []int{5, 0, 7},
			wantFormat: "input_ids",
		},
		{
			name:       "input_ids with labels",
			line:       `{"input_ids": [5, 6, 7], "labels": [-100, 6, 9]}`,
			wantIDs:    []int{5, 6, 7},
			wantLabels: []int{IgnoreIndex, 6, 9},
			wantFormat: "input_ids",
		},
		{
			name:       "extra fields and null fields are ignored",
			line:       `{"id": 3, "meta": {"a": [1]}, "text": "a", "prompt": null, "labels": [1]}`,
			wantIDs:    []int{fakeBOS, 'a' + 3, fakeEOS},
			wantLabels: []int{fakeBOS, 'a' + 3, fakeEOS},
			wantFormat: "text",
		},
		{
			name:       "unicode escapes",
			line:       `{"text": "\u00e9"}`,
			wantIDs:    []int{fakeBOS, 0xc3 + 3, 0xa9 + 3, fakeEOS},
			wantLabels: []int{fakeBOS, 0xc3 + 3, 0xa9 + 3, fakeEOS},
			wantFormat: "text",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.Tokenizer == nil && !strings.Contains(tt.line, "input_ids") {
				opts.Tokenizer = tok
			}
			if strings.Contains(tt.name, "messages") {
				opts.Tokenizer = tok
			}
			exs, st, err := Decode(strings.NewReader(tt.line+"\n"), "t.jsonl", opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(exs) != 1 {
				t.Fatalf("got %d examples, want 1", len(exs))
			}
			if !slices.Equal(exs[0].InputIDs, tt.wantIDs) {
				t.Errorf("ids %v (%q), want %v (%q)", exs[0].InputIDs, detok(exs[0].InputIDs), tt.wantIDs, detok(tt.wantIDs))
			}
			if !slices.Equal(exs[0].Labels, tt.wantLabels) {
				t.Errorf("labels %v, want %v", exs[0].Labels, tt.wantLabels)
			}
			wantLoss := 0
			for _, l := range tt.wantLabels[1:] {
				if l != IgnoreIndex {
					wantLoss++
				}
			}
			want := Stats{Records: 1, Tokens: len(tt.wantIDs), LossTokens: wantLoss, Format: tt.wantFormat}
			if st != want {
				t.Errorf("stats %+v, want %+v", st, want)
			}
		})
	}
}

// Lines: BOM, CRLF endings, blank lines; a file of each format; Stats per
// file.
func TestReadJSONLLayout(t *testing.T) {
	opts := Options{Tokenizer: byteTokenizer{}, Chat: turnChat{}, VocabSize: fakeVocab}
	chatIDs := ids("<s><|user|>\nu<|end|>\n<|assistant|>\nv<|end|>\n")
	for _, tc := range []struct {
		format string
		record string
		want   []int
		loss   int // loss targets per record
	}{
		{"text", `{"text": "ab"}`, []int{fakeBOS, 'a' + 3, 'b' + 3, fakeEOS}, 3},
		{"prompt/completion", `{"prompt": "p", "completion": "c", "source": "x"}`, []int{fakeBOS, 'p' + 3, 'c' + 3, fakeEOS}, 2},
		{"input_ids", `{"input_ids": [10, 11, 12], "labels": [-100, 11, -100]}`, []int{10, 11, 12}, 1},
		{"messages", `{"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "v"}]}`, chatIDs, len(chatIDs) - 1},
	} {
		t.Run(tc.format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "d.jsonl")
			content := "\xEF\xBB\xBF" + tc.record + "\r\n\r\n" + tc.record + "\n   \n" + tc.record
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			exs, st, err := ReadJSONL(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(exs) != 3 {
				t.Fatalf("got %d examples, want 3", len(exs))
			}
			for i, ex := range exs {
				if !slices.Equal(ex.InputIDs, tc.want) {
					t.Errorf("example %d: ids %v, want %v", i, ex.InputIDs, tc.want)
				}
			}
			want := Stats{Records: 3, Tokens: 3 * len(tc.want), LossTokens: 3 * tc.loss, Format: tc.format}
			if st != want {
				t.Errorf("stats %+v, want %+v", st, want)
			}
		})
	}
}

// TestReadJSONLRefusesMixedShapes: a file holds one record shape; a
// record of another shape than the first is refused, naming both lines'
// shapes ("messages" and "input_ids" count as shapes too).
func TestReadJSONLRefusesMixedShapes(t *testing.T) {
	opts := Options{Tokenizer: byteTokenizer{}, Chat: turnChat{}, VocabSize: fakeVocab}
	path := filepath.Join("testdata", "mixed.jsonl")
	_, _, err := ReadJSONL(path, opts)
	want := path + `:3: record is "prompt"/"completion" but line 1 was "text"; a file holds one record shape`
	if err == nil || err.Error() != want {
		t.Errorf("ReadJSONL(%s): error %v, want %q", path, err, want)
	}
	const (
		text     = `{"text": "a"}`
		prompt   = `{"prompt": "a", "completion": "b"}`
		messages = `{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}`
		inputIDs = `{"input_ids": [4, 5]}`
	)
	for _, tc := range []struct{ in, want string }{
		{text + "\n" + prompt, `f.jsonl:2: record is "prompt"/"completion" but line 1 was "text"; a file holds one record shape`},
		{prompt + "\n" + prompt + "\n\n" + text, `f.jsonl:4: record is "text" but line 1 was "prompt"/"completion"; a file holds one record shape`},
		{"\n" + inputIDs + "\n" + messages, `f.jsonl:3: record is "messages" but line 2 was "input_ids"; a file holds one record shape`},
		{messages + "\r\n" + inputIDs, `f.jsonl:2: record is "input_ids" but line 1 was "messages"; a file holds one record shape`},
		{text + "\n" + messages, `f.jsonl:2: record is "messages" but line 1 was "text"; a file holds one record shape`},
		{prompt + "\n" + inputIDs, `f.jsonl:2: record is "input_ids" but line 1 was "prompt"/"completion"; a file holds one record shape`},
	} {
		_, _, err := Decode(strings.NewReader(tc.in), "f.jsonl", opts)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestAssistantOnlyMasksExactlyAssistantTurns(t *testing.T) {
	line := `{"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "q1"},` +
		` {"role": "assistant", "content": "  a1 "}, {"role": "user", "content": "q2"},` +
		` {"role": "assistant", "content": "a2"}, {"role": "user", "content": "trailing"}]}`
	noSystem := `{"messages": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}]}`
	tests := []struct {
		name     string
		chat     turnChat
		line     string
		wantLoss []string // the loss-carrying runs of text, in order
	}{
		{"plain", turnChat{}, line, []string{"  a1 <|end|>\n", "a2<|end|>\n"}},
		{"trimming template", turnChat{trim: true}, line, []string{"a1<|end|>\n", "a2<|end|>\n"}},
		{"default system turn", turnChat{defaultSystem: true}, noSystem, []string{"a1<|end|>\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Tokenizer: byteTokenizer{}, Chat: tt.chat, AssistantOnly: true}
			exs, st, err := Decode(strings.NewReader(tt.line), "c.jsonl", opts)
			if err != nil {
				t.Fatal(err)
			}
			ex := exs[0]
			// The ids spell the whole rendering.
			full := renderLine(t, tt.chat, tt.line)
			if got := detok(ex.InputIDs); got != full {
				t.Errorf("ids spell %q, want %q", got, full)
			}
			// The loss-carrying labels are the ids themselves, in runs that
			// spell exactly each assistant turn's content and end.
			var runs []string
			var run []int
			loss := 0
			for i, l := range ex.Labels {
				if l != IgnoreIndex {
					if l != ex.InputIDs[i] {
						t.Fatalf("label %d = %d, want the id %d", i, l, ex.InputIDs[i])
					}
					run = append(run, l)
					loss++
					continue
				}
				if len(run) > 0 {
					runs = append(runs, detok(run))
					run = nil
				}
			}
			if len(run) > 0 {
				runs = append(runs, detok(run))
			}
			if !slices.Equal(runs, tt.wantLoss) {
				t.Errorf("loss runs %q, want %q", runs, tt.wantLoss)
			}
			if st.LossTokens != loss {
				t.Errorf("LossTokens %d, want %d", st.LossTokens, loss)
			}
		})
	}
}

// renderLine renders the messages of a one-line record with chat.
func renderLine(t *testing.T, chat ChatRenderer, line string) string {
	t.Helper()
	var probe struct{ Messages []Message }
	if err := json.Unmarshal([]byte(line), &probe); err != nil {
		t.Fatal(err)
	}
	s, err := chat.RenderChat(probe.Messages)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTruncation(t *testing.T) {
	files := [][]string{
		{
			`{"text": "hello"}`, // 7 tokens → 4
			`{"text": "ab"}`,    // 4 tokens, kept whole
		},
		{`{"prompt": "long prompt", "completion": "c"}`}, // completion cut away
		{`{"input_ids": [1, 2, 3, 4, 5], "labels": [1, 2, -100, 4, 5]}`},
	}
	want := [][]Example{
		{
			{[]int{fakeBOS, 'h' + 3, 'e' + 3, 'l' + 3}, []int{fakeBOS, 'h' + 3, 'e' + 3, 'l' + 3}},
			{[]int{fakeBOS, 'a' + 3, 'b' + 3, fakeEOS}, []int{fakeBOS, 'a' + 3, 'b' + 3, fakeEOS}},
		},
		{{[]int{fakeBOS, 'l' + 3, 'o' + 3, 'n' + 3}, fill(4, IgnoreIndex)}},
		{{[]int{1, 2, 3, 4}, []int{1, 2, -100, 4}}},
	}
	wantStats := []Stats{
		{Records: 2, Tokens: 8, LossTokens: 3 + 3, Truncated: 1, Format: "text"},
		{Records: 1, Tokens: 4, LossTokens: 0, Truncated: 1, Format: "prompt/completion"},
		{Records: 1, Tokens: 4, LossTokens: 2, Truncated: 1, Format: "input_ids"},
	}
	for f, lines := range files {
		exs, st, err := Decode(strings.NewReader(strings.Join(lines, "\n")), "t.jsonl", Options{Tokenizer: byteTokenizer{}, MaxSeqLength: 4})
		if err != nil {
			t.Fatal(err)
		}
		if len(exs) != len(want[f]) {
			t.Fatalf("file %d: %d examples, want %d", f, len(exs), len(want[f]))
		}
		for i, w := range want[f] {
			if !slices.Equal(exs[i].InputIDs, w.InputIDs) || !slices.Equal(exs[i].Labels, w.Labels) {
				t.Errorf("file %d, example %d: %v / %v, want %v / %v", f, i, exs[i].InputIDs, exs[i].Labels, w.InputIDs, w.Labels)
			}
		}
		if st != wantStats[f] {
			t.Errorf("file %d: stats %+v, want %+v", f, st, wantStats[f])
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tok := byteTokenizer{}
	base := Options{Tokenizer: tok, Chat: turnChat{}, VocabSize: fakeVocab}
	asst := base
	asst.AssistantOnly = true
	tests := []struct {
		name string
		in   string
		opts *Options // nil: base
		want []string // substrings of the error
	}{
		{"empty file", "", nil, []string{"bad.jsonl: no records (the file is empty)"}},
		{"blank lines only", "\n  \n\r\n", nil, []string{"bad.jsonl:3: no records (all 3 lines are blank)"}},
		{"BOM only", "\xEF\xBB\xBF\n", nil, []string{"bad.jsonl:1: no records"}},
		{"not JSON", `{"text": "a"}` + "\n\n" + `{"text": }`, nil, []string{"bad.jsonl:3: not JSON", "invalid character"}},
		{"truncated JSON", `{"text": "a"`, nil, []string{"bad.jsonl:1: not JSON"}},
		{"trailing garbage", `{"text": "a"} x`, nil, []string{"bad.jsonl:1: not JSON"}},
		{"BOM not at file start", `{"text": "a"}` + "\n\xEF\xBB\xBF" + `{"text": "a"}`, nil, []string{"bad.jsonl:2: not JSON"}},
		{"invalid UTF-8", "{\"text\": \"a\xffb\"}", nil, []string{"bad.jsonl:1: not valid UTF-8", "byte 12"}},
		{"array record", `[1, 2]`, nil, []string{"bad.jsonl:1: record is an array, not a JSON object"}},
		{"string record", `"text"`, nil, []string{"bad.jsonl:1: record is a string"}},
		{"null record", `null`, nil, []string{"bad.jsonl:1: record is null"}},
		{"no known field", `{"txt": "a"}`, nil, []string{`bad.jsonl:1: record has neither "text", "prompt"/"completion", "messages" nor "input_ids"`}},
		{"only null fields", `{"text": null}`, nil, []string{`bad.jsonl:1: record has neither`, `("text" null)`}},
		{"mixed formats", `{"text": "a", "input_ids": [1]}`, nil, []string{`bad.jsonl:1: record mixes formats ("text", "input_ids")`}},
		{"text is a number", `{"text": 5}`, nil, []string{`bad.jsonl:1: "text" is a number`}},
		{"text is an object", `{"text": {}}`, nil, []string{`bad.jsonl:1: "text" is an object`}},
		{"text is a boolean", `{"text": true}`, nil, []string{`bad.jsonl:1: "text" is a boolean`}},
		{"text needs a tokenizer", `{"text": "a"}`, &Options{}, []string{`bad.jsonl:1: "text" records cannot be tokenized: there is no tokenizer (the model directory has no tokenizer.json); use "input_ids" records, or add the model's tokenizer.json`}},
		{"prompt needs a tokenizer", `{"prompt": "a", "completion": "b"}`, &Options{}, []string{`bad.jsonl:1: "prompt"/"completion" records cannot be tokenized`, "tokenizer.json"}},
		{"text encodes to nothing", `{"text": ""}`, &Options{Tokenizer: byteTokenizer{noSpecial: true}}, []string{"bad.jsonl:1: text record encodes to no tokens"}},
		{"tokenizer id ≥ vocab", `{"text": "a"}`, &Options{Tokenizer: tok, VocabSize: 50}, []string{`bad.jsonl:1: "text": the tokenizer produced id 100`, "vocabulary size 50"}},
		{"prompt without completion", `{"prompt": "a"}`, nil, []string{`bad.jsonl:1: "prompt" without "completion"`}},
		{"completion without prompt", `{"completion": "a", "prompt": null}`, nil, []string{`bad.jsonl:1: "completion" without "prompt"`}},
		{"prompt is a number", `{"prompt": 1, "completion": "a"}`, nil, []string{`bad.jsonl:1: "prompt" is a number`}},
		{"completion is a boolean", `{"prompt": "a", "completion": false}`, nil, []string{`bad.jsonl:1: "completion" is a boolean`}},
		{"conversational prompt", `{"prompt": [{"role": "user", "content": "a"}], "completion": "b"}`, nil, []string{`bad.jsonl:1: "prompt" is an array`, "conversational"}},
		{"completion id ≥ vocab", `{"prompt": "a", "completion": "z"}`, &Options{Tokenizer: tok, VocabSize: 'z' + 3}, []string{`bad.jsonl:1: "completion": the tokenizer produced id 125`}},
		{"messages is a string", `{"messages": "hi"}`, nil, []string{`bad.jsonl:1: "messages" is a string`}},
		{"messages is empty", `{"messages": []}`, nil, []string{`bad.jsonl:1: "messages" is empty`}},
		{"message is a string", `{"messages": [{"role": "user", "content": "a"}, "b"]}`, nil, []string{`bad.jsonl:1: "messages"[1] is a string`}},
		{"message without role", `{"messages": [{"content": "a"}]}`, nil, []string{`bad.jsonl:1: "messages"[0] has no "role"`}},
		{"message without content", `{"messages": [{"role": "user", "content": null}]}`, nil, []string{`bad.jsonl:1: "messages"[0] has no "content"`}},
		{"content is a number", `{"messages": [{"role": "user", "content": 4}]}`, nil, []string{`bad.jsonl:1: "messages"[0].content is a number`}},
		{"role is an array", `{"messages": [{"role": [], "content": "a"}]}`, nil, []string{`bad.jsonl:1: "messages"[0].role is an array`}},
		{"messages need a chat renderer", `{"messages": [{"role": "user", "content": "a"}]}`, &Options{Tokenizer: tok}, []string{`bad.jsonl:1: "messages" needs a chat renderer`}},
		{"messages need a tokenizer", `{"messages": [{"role": "user", "content": "a"}]}`, &Options{Chat: turnChat{}}, []string{`bad.jsonl:1: "messages" records cannot be tokenized`, "tokenizer.json"}},
		{"template error", `{"messages": [{"role": "robot", "content": "a"}]}`, nil, []string{`bad.jsonl:1: "messages": template: unknown role`}},
		{"assistant only, no assistant turn", `{"messages": [{"role": "user", "content": "a"}]}`, &asst, []string{`bad.jsonl:1: "messages" has no "assistant" message`}},
		{"assistant only, template rewrites history", `{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}`,
			&Options{Tokenizer: tok, Chat: turnChat{dropHistory: true}, AssistantOnly: true}, []string{`bad.jsonl:1: "messages"[1]:`, "rewrites earlier turns"}},
		{"assistant only, template drops content", `{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}`,
			&Options{Tokenizer: tok, Chat: turnChat{ignoreContent: true}, AssistantOnly: true}, []string{`bad.jsonl:1: "messages"[1]:`, "does not write the assistant content verbatim"}},
		{"input_ids is a string", `{"input_ids": "1 2"}`, nil, []string{`bad.jsonl:1: "input_ids" is a string`}},
		{"input_ids is empty", `{"input_ids": []}`, nil, []string{`bad.jsonl:1: "input_ids" is empty`}},
		{"input_ids element is a string", `{"input_ids": [1, "2"]}`, nil, []string{`bad.jsonl:1: "input_ids"[1] is a string`}},
		{"input_ids element is a float", `{"input_ids": [1.5]}`, nil, []string{`bad.jsonl:1: "input_ids"[0] = 1.5 is not an integer`}},
		{"input_ids element in exponent form", `{"input_ids": [1e2]}`, nil, []string{`bad.jsonl:1: "input_ids"[0] = 1e2 is not an integer`}},
		{"input_ids element out of range", `{"input_ids": [99999999999999999999999]}`, nil, []string{`bad.jsonl:1: "input_ids"[0] = 99999999999999999999999 is out of range`}},
		{"input_ids negative", `{"input_ids": [3, -1]}`, nil, []string{`bad.jsonl:1: "input_ids"[1] = -1 is negative`}},
		{"input_ids ≥ vocab", `{"input_ids": [3, 259]}`, nil, []string{`bad.jsonl:1: "input_ids"[1] = 259 is ≥ the vocabulary size 259`}},
		{"labels length mismatch", `{"input_ids": [3, 4], "labels": [3]}`, nil, []string{`bad.jsonl:1: "labels" has 1 entries but "input_ids" has 2`}},
		{"labels is an object", `{"input_ids": [3], "labels": {}}`, nil, []string{`bad.jsonl:1: "labels" is an object`}},
		{"labels negative", `{"input_ids": [3, 4], "labels": [-100, -5]}`, nil, []string{`bad.jsonl:1: "labels"[1] = -5`}},
		{"labels ≥ vocab", `{"input_ids": [3, 4], "labels": [300, 4]}`, nil, []string{`bad.jsonl:1: "labels"[0] = 300 is ≥ the vocabulary size`}},
		{"error on a later line", `{"text": "a"}` + "\n\n" + `{"text": "b"}` + "\r\n" + `{"text": 1}`, nil, []string{`bad.jsonl:4: "text" is a number`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := base
			if tt.opts != nil {
				opts = *tt.opts
			}
			exs, _, err := Decode(strings.NewReader(tt.in), "bad.jsonl", opts)
			if err == nil {
				t.Fatalf("no error; got %d examples", len(exs))
			}
			if exs != nil {
				t.Errorf("examples returned with the error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDecodeErrorsWrap(t *testing.T) {
	_, _, err := Decode(strings.NewReader(`{"messages": [{"role": "robot", "content": "a"}]}`), "w.jsonl",
		Options{Tokenizer: byteTokenizer{}, Chat: turnChat{}})
	if !errors.Is(err, errTemplate) {
		t.Errorf("%v does not wrap the template's error", err)
	}
	_, _, err = Decode(strings.NewReader("{"), "w.jsonl", Options{})
	var syn *json.SyntaxError
	if !errors.As(err, &syn) || !strings.Contains(err.Error(), "w.jsonl:1: not JSON") {
		t.Errorf("%v does not wrap the JSON error", err)
	}
	_, _, err = ReadJSONL(filepath.Join(t.TempDir(), "missing.jsonl"), Options{})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.jsonl") {
		t.Errorf("missing file: %v", err)
	}
	_, _, err = Decode(failingReader{}, "r.jsonl", Options{})
	if !errors.Is(err, errRead) || !strings.Contains(err.Error(), "r.jsonl:1: reading") {
		t.Errorf("read error: %v", err)
	}
}

var errRead = errors.New("disk on fire")

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errRead }

// Lines far longer than any buffer are read whole.
func TestDecodeLongLine(t *testing.T) {
	text := strings.Repeat("x", 300_000)
	exs, st, err := Decode(strings.NewReader(`{"text": "`+text+`"}`), "l.jsonl", Options{Tokenizer: byteTokenizer{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(exs[0].InputIDs) != len(text)+2 || st.Tokens != len(text)+2 {
		t.Errorf("got %d tokens, want %d", len(exs[0].InputIDs), len(text)+2)
	}
}
