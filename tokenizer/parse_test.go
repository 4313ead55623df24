package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tinyJSON is a small valid byte-level tokenizer.json: bytes a b c and the
// space (Ġ), merges a+b, ab+c, Ġ+abc, and one special token.
const tinyJSON = `{
  "version": "1.0",
  "added_tokens": [{"id": 8, "content": "<|end|>", "special": true}],
  "normalizer": null,
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
  "post_processor": null,
  "decoder": {"type": "ByteLevel"},
  "model": {
    "type": "BPE", "dropout": null, "unk_token": null,
    "vocab": {"a": 0, "b": 1, "c": 2, "Ġ": 3, "ab": 4, "abc": 5, "Ġabc": 6, "x": 7},
    "merges": ["a b", "ab c", "Ġ abc"]
  }
}`

// tinyWith returns tinyJSON with top-level fields (or model fields, keys
// "model.x") replaced; a nil value deletes the field.
func tinyWith(t *testing.T, set map[string]any) []byte {
	t.Helper()
	var top map[string]any
	if err := json.Unmarshal([]byte(tinyJSON), &top); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		target := top
		if mk, ok := strings.CutPrefix(k, "model."); ok {
			target = top["model"].(map[string]any)
			k = mk
		}
		if v == nil {
			delete(target, k)
		} else {
			target[k] = v
		}
	}
	b, err := json.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseTiny(t *testing.T) {
	tok, err := Parse([]byte(tinyJSON))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text string
		want []int
	}{
		{"", nil},
		{"abc", []int{5}},
		{"abc abc", []int{5, 6}},
		{"abcab", []int{5, 4}},
		{"cba", []int{2, 1, 0}},
		{"abc<|end|>x", []int{5, 8, 7}},
		{"a\xffb", []int{0, 1}}, // \xff reads as U+FFFD, whose bytes this vocab lacks: dropped
	}
	for _, tt := range tests {
		if got := tok.Encode(tt.text); !slices.Equal(got, tt.want) {
			t.Errorf("Encode(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
	if got := tok.Decode([]int{5, 6, 8, 7, 99, -1}, false); got != "abc abc<|end|>x" {
		t.Errorf("Decode = %q", got)
	}
	if got := tok.Decode([]int{5, 8, 7}, true); got != "abcx" {
		t.Errorf("Decode(skip) = %q", got)
	}
	if tok.VocabSize() != 9 {
		t.Errorf("VocabSize = %d, want 9", tok.VocabSize())
	}
	if id, ok := tok.TokenID("<|end|>"); !ok || id != 8 || !tok.IsSpecial(8) || tok.IsSpecial(5) {
		t.Errorf("TokenID(<|end|>) = %d, %v; IsSpecial(8) = %v", id, ok, tok.IsSpecial(8))
	}
	if s, ok := tok.Token(6); !ok || s != "Ġabc" {
		t.Errorf("Token(6) = %q, %v", s, ok)
	}
	if _, ok := tok.Token(9); ok {
		t.Error("Token(9) exists")
	}
	for _, f := range []func() (int, bool){tok.BOS, tok.EOS, tok.PAD} {
		if id, ok := f(); ok {
			t.Errorf("role id %d without a config", id)
		}
	}
	if tok.ChatTemplate() != "" || len(tok.SpecialTokens()) != 0 || tok.CleanUpTokenizationSpaces() {
		t.Error("config values without a config")
	}
}

// TestParseErrors: bad tokenizer.json files are refused with an error that
// names the file and the field.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name        string
		data        []byte
		want        []string // substrings of the error
		unsupported bool     // errors.Is(err, ErrUnsupported)
	}{
		{"not JSON", []byte("{\n  \"model\": {,\n}"), []string{"tokenizer.json", "line 2, column"}, false},
		{"not an object", []byte(`[1, 2]`), []string{"tokenizer.json", "want a JSON object"}, false},
		{"null", []byte(`null`), []string{"tokenizer.json", "want a JSON object"}, false},
		{"empty", []byte(``), []string{"tokenizer.json", "invalid JSON"}, false},
		{"missing model", tinyWith(t, map[string]any{"model": nil}), []string{"tokenizer.json: model: missing"}, false},
		{"model not an object", tinyWith(t, map[string]any{"model": "BPE"}), []string{"model: want a JSON object"}, false},
		{"WordPiece", tinyWith(t, map[string]any{"model.type": "WordPiece"}), []string{`model.type = "WordPiece" unsupported`}, true},
		{"Unigram", tinyWith(t, map[string]any{"model.type": "Unigram"}), []string{`model.type = "Unigram" unsupported`}, true},
		{"no type, no merges", tinyWith(t, map[string]any{"model.type": nil, "model.merges": nil}), []string{"model.type: missing"}, false},
		{"vocab missing", tinyWith(t, map[string]any{"model.vocab": nil}), []string{"model.vocab: missing"}, false},
		{"vocab a list", tinyWith(t, map[string]any{"model.vocab": []string{"a"}}), []string{"model.vocab"}, false},
		{"vocab id a string", tinyWith(t, map[string]any{"model.vocab": map[string]any{"a": "0"}}), []string{"model.vocab"}, false},
		{"negative id", tinyWith(t, map[string]any{"model.vocab": map[string]int{"a": -1}, "model.merges": []string{}}), []string{`model.vocab["a"] = -1`}, false},
		{"huge id", tinyWith(t, map[string]any{"model.vocab": map[string]int{"a": 1 << 30}, "model.merges": []string{}}), []string{`model.vocab["a"]`, "out of range"}, false},
		{"shared id", tinyWith(t, map[string]any{"model.vocab": map[string]int{"a": 0, "b": 0}, "model.merges": []string{}}), []string{`model.vocab: tokens "a" and "b" share id 0`}, false},
		{"merge unknown left", tinyWith(t, map[string]any{"model.merges": []string{"q b"}}), []string{`model.merges[0]`, `token "q" not in model.vocab`}, false},
		{"merge unknown right", tinyWith(t, map[string]any{"model.merges": []string{"a b", "ab q"}}), []string{`model.merges[1]`, `token "q" not in model.vocab`}, false},
		{"merge result unknown", tinyWith(t, map[string]any{"model.merges": []string{"b c"}}), []string{`model.merges[0]`, `merged token "bc" not in model.vocab`}, false},
		{"merge pair unknown", tinyWith(t, map[string]any{"model.merges": [][]string{{"a", "b"}, {"x", "a"}}}), []string{`model.merges[1]`, `merged token "xa"`}, false},
		{"merge without space", tinyWith(t, map[string]any{"model.merges": []string{"ab"}}), []string{`model.merges[0] = "ab"`}, false},
		{"merge with two spaces", tinyWith(t, map[string]any{"model.merges": []string{"a b c"}}), []string{`model.merges[0] = "a b c"`}, false},
		{"merge triple", tinyWith(t, map[string]any{"model.merges": [][]string{{"a", "b", "c"}}}), []string{`model.merges[0]: want a pair`}, false},
		{"merges not a list", tinyWith(t, map[string]any{"model.merges": "a b"}), []string{`model.merges: want a list`}, false},
		{"merges mixed", tinyWith(t, map[string]any{"model.merges": []any{"a b", []string{"ab", "c"}}}), []string{`model.merges`}, false},
		{"dropout", tinyWith(t, map[string]any{"model.dropout": 0.1}), []string{"model.dropout", "must be null"}, false},
		{"subword prefix", tinyWith(t, map[string]any{"model.continuing_subword_prefix": "##"}), []string{`model.continuing_subword_prefix = "##"`}, true},
		{"word suffix", tinyWith(t, map[string]any{"model.end_of_word_suffix": "</w>"}), []string{`model.end_of_word_suffix = "</w>"`}, true},
		{"fuse_unk not bool", tinyWith(t, map[string]any{"model.fuse_unk": "yes"}), []string{"model.fuse_unk: want true or false"}, false},
		{"unk_token not string", tinyWith(t, map[string]any{"model.unk_token": 3}), []string{"model.unk_token: want a string"}, false},
		{"added not a list", tinyWith(t, map[string]any{"added_tokens": map[string]any{}}), []string{"added_tokens: want a list"}, false},
		{"added without id", tinyWith(t, map[string]any{"added_tokens": []any{map[string]any{"content": "x"}}}), []string{"added_tokens[0].id: missing"}, false},
		{"added negative id", tinyWith(t, map[string]any{"added_tokens": []any{map[string]any{"id": -2, "content": "x"}}}), []string{"added_tokens[0].id: negative"}, false},
		{"added empty", tinyWith(t, map[string]any{"added_tokens": []any{map[string]any{"id": 9, "content": ""}}}), []string{"added_tokens[0].content: empty"}, false},
		{"added huge id", tinyWith(t, map[string]any{"added_tokens": []any{map[string]any{"id": 1 << 40, "content": "x"}}}), []string{"added_tokens[0].id", "out of range"}, false},
		{"added special not bool", tinyWith(t, map[string]any{"added_tokens": []any{map[string]any{"id": 9, "content": "x", "special": 1}}}), []string{"added_tokens[0].special: want true or false"}, false},
		{"normalizer Lowercase", tinyWith(t, map[string]any{"normalizer": map[string]any{"type": "Lowercase"}}), []string{`tokenizer.json: normalizer.type = "Lowercase" unsupported`}, true},
		{"normalizer nested", tinyWith(t, map[string]any{"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{map[string]any{"type": "NFC"}, map[string]any{"type": "BertNormalizer"}}}}), []string{`normalizer.normalizers[1].type = "BertNormalizer" unsupported`}, true},
		{"normalizer a string", tinyWith(t, map[string]any{"normalizer": "NFC"}), []string{"normalizer: want a JSON object"}, false},
		{"normalizer without type", tinyWith(t, map[string]any{"normalizer": map[string]any{}}), []string{"normalizer.type: missing"}, false},
		{"Replace without pattern", tinyWith(t, map[string]any{"normalizer": map[string]any{"type": "Replace", "content": "x"}}), []string{"normalizer.pattern: missing"}, false},
		{"Replace bad pattern", tinyWith(t, map[string]any{"normalizer": map[string]any{"type": "Replace", "pattern": map[string]any{"Glob": "*"}, "content": "x"}}), []string{"normalizer.pattern: want"}, false},
		{"pre-tokenizer Whitespace", tinyWith(t, map[string]any{"pre_tokenizer": map[string]any{"type": "Whitespace"}}), []string{`pre_tokenizer.type = "Whitespace" unsupported`}, true},
		{"Split bad regex", tinyWith(t, map[string]any{"pre_tokenizer": map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "(ab"}, "behavior": "Isolated"}}), []string{`pre_tokenizer.pattern.Regex "(ab"`}, false},
		{"Split bad behavior", tinyWith(t, map[string]any{"pre_tokenizer": map[string]any{"type": "Split", "pattern": map[string]any{"String": " "}, "behavior": "Sideways"}}), []string{`pre_tokenizer.behavior = "Sideways"`}, false},
		{"Sequence member", tinyWith(t, map[string]any{"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{map[string]any{"type": "ByteLevel"}, map[string]any{"type": "Punctuation"}}}}), []string{`pre_tokenizer.pretokenizers[1].type = "Punctuation" unsupported`}, true},
		{"Metaspace bad scheme", tinyWith(t, map[string]any{"pre_tokenizer": map[string]any{"type": "Metaspace", "prepend_scheme": "sometimes"}}), []string{`pre_tokenizer.prepend_scheme = "sometimes"`}, false},
		{"Metaspace empty replacement", tinyWith(t, map[string]any{"pre_tokenizer": map[string]any{"type": "Metaspace", "replacement": ""}}), []string{`pre_tokenizer.replacement: empty`}, false},
		{"decoder CTC", tinyWith(t, map[string]any{"decoder": map[string]any{"type": "CTC"}}), []string{`decoder.type = "CTC" unsupported`}, true},
		{"decoder Strip negative", tinyWith(t, map[string]any{"decoder": map[string]any{"type": "Strip", "content": " ", "start": -1, "stop": 0}}), []string{`decoder: start and stop`}, false},
		{"post-processor unknown token", tinyWith(t, map[string]any{"post_processor": map[string]any{"type": "TemplateProcessing", "single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}}, "special_tokens": map[string]any{}}}), []string{`post_processor.single[0].SpecialToken.id`, `"<s>"`}, false},
		{"post-processor bad id", tinyWith(t, map[string]any{"post_processor": map[string]any{"type": "TemplateProcessing", "single": "<s> $A", "special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{77}}}}}), []string{`post_processor.single[0]`, `id 77`}, false},
		{"post-processor no single", tinyWith(t, map[string]any{"post_processor": map[string]any{"type": "TemplateProcessing"}}), []string{`post_processor.single: missing`}, false},
		{"post-processor Bert bad cls", tinyWith(t, map[string]any{"post_processor": map[string]any{"type": "BertProcessing", "cls": "x"}}), []string{`post_processor.cls: want [token, id]`}, false},
		{"post-processor unknown", tinyWith(t, map[string]any{"post_processor": map[string]any{"type": "Fancy"}}), []string{`post_processor.type = "Fancy" unsupported`}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Parse(tt.data)
			if err == nil {
				t.Fatalf("Parse succeeded (vocab size %d)", tok.VocabSize())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "tokenizer.json: ") {
				t.Errorf("error %q does not start with the file name", err)
			}
			if got := errors.Is(err, ErrUnsupported); got != tt.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v", got, tt.unsupported)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	good := []byte(tinyJSON)
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"no tokenizer.json", map[string]string{"tokenizer_config.json": "{}"}, []string{"tokenizer.json", "no such file"}},
		{"config not JSON", map[string]string{"tokenizer_config.json": "{\"bos_token\": }"}, []string{"tokenizer_config.json", "line 1"}},
		{"config not an object", map[string]string{"tokenizer_config.json": "[]"}, []string{"tokenizer_config.json"}},
		{"bos_token a number", map[string]string{"tokenizer_config.json": `{"bos_token": 1}`}, []string{"tokenizer_config.json: bos_token: want a string"}},
		{"eos_token object without content", map[string]string{"tokenizer_config.json": `{"eos_token": {"lstrip": false}}`}, []string{"tokenizer_config.json: eos_token"}},
		{"add_bos_token a string", map[string]string{"tokenizer_config.json": `{"add_bos_token": "yes"}`}, []string{"tokenizer_config.json: add_bos_token"}},
		{"cleanup a number", map[string]string{"tokenizer_config.json": `{"clean_up_tokenization_spaces": 1}`}, []string{"tokenizer_config.json: clean_up_tokenization_spaces"}},
		{"max length negative", map[string]string{"tokenizer_config.json": `{"model_max_length": -5}`}, []string{"tokenizer_config.json: model_max_length"}},
		{"chat_template a number", map[string]string{"tokenizer_config.json": `{"chat_template": 3}`}, []string{"tokenizer_config.json: chat_template"}},
		{"chat_template list without name", map[string]string{"tokenizer_config.json": `{"chat_template": [{"template": "x"}]}`}, []string{"tokenizer_config.json: chat_template[0]"}},
		{"additional_special_tokens not a list", map[string]string{"tokenizer_config.json": `{"additional_special_tokens": "x"}`}, []string{"tokenizer_config.json: additional_special_tokens"}},
		{"special map bad", map[string]string{"special_tokens_map.json": `{"pad_token": [1]}`}, []string{"special_tokens_map.json: pad_token"}},
		{"special map not JSON", map[string]string{"special_tokens_map.json": `{`}, []string{"special_tokens_map.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.name != "no tokenizer.json" {
				os.WriteFile(filepath.Join(dir, "tokenizer.json"), good, 0o644)
			}
			for name, content := range tt.files {
				os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
			}
			_, err := Load(dir)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		roles   map[string]string
		bos     int // -1: none
		eos     int
		pad     int
		tmpl    string
		cleanUp bool
		maxLen  int
		special []string // tokens IsSpecial must report
	}{
		{
			name:  "strings and objects",
			files: map[string]string{"tokenizer_config.json": `{"bos_token": "abc", "eos_token": {"__type": "AddedToken", "content": "<|end|>"}, "pad_token": null, "clean_up_tokenization_spaces": true, "model_max_length": 1e30, "chat_template": "T"}`},
			roles: map[string]string{"bos_token": "abc", "eos_token": "<|end|>"}, bos: 5, eos: 8, pad: -1, tmpl: "T", cleanUp: true, maxLen: int(^uint(0) >> 1),
			special: []string{"<|end|>"},
		},
		{
			name:  "template list and special map override",
			files: map[string]string{"tokenizer_config.json": `{"eos_token": "x", "model_max_length": 2048, "chat_template": [{"name": "tool_use", "template": "A"}, {"name": "default", "template": "B"}], "additional_special_tokens": ["ab", {"content": "c"}]}`, "special_tokens_map.json": `{"eos_token": {"content": "<|end|>", "lstrip": false}, "pad_token": "x"}`},
			roles: map[string]string{"eos_token": "<|end|>", "pad_token": "x"}, bos: -1, eos: 8, pad: 7, tmpl: "B", maxLen: 2048,
			special: []string{"<|end|>", "ab", "c"},
		},
		{
			name:  "chat_template.jinja",
			files: map[string]string{"chat_template.jinja": "{{ messages }}"},
			roles: map[string]string{}, bos: -1, eos: -1, pad: -1, tmpl: "{{ messages }}", special: []string{"<|end|>"},
		},
		{
			name:  "role naming a missing token",
			files: map[string]string{"tokenizer_config.json": `{"bos_token": "<s>"}`},
			roles: map[string]string{"bos_token": "<s>"}, bos: -1, eos: -1, pad: -1, special: []string{"<|end|>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(tinyJSON), 0o644)
			for name, content := range tt.files {
				os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
			}
			tok, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.SpecialTokens(); !maps2Equal(got, tt.roles) {
				t.Errorf("SpecialTokens = %v, want %v", got, tt.roles)
			}
			for _, c := range []struct {
				name string
				f    func() (int, bool)
				want int
			}{{"BOS", tok.BOS, tt.bos}, {"EOS", tok.EOS, tt.eos}, {"PAD", tok.PAD, tt.pad}} {
				id, ok := c.f()
				if (c.want >= 0 && (!ok || id != c.want)) || (c.want < 0 && ok) {
					t.Errorf("%s() = %d, %v; want %d", c.name, id, ok, c.want)
				}
			}
			if tok.ChatTemplate() != tt.tmpl {
				t.Errorf("ChatTemplate = %q, want %q", tok.ChatTemplate(), tt.tmpl)
			}
			if tok.CleanUpTokenizationSpaces() != tt.cleanUp {
				t.Errorf("CleanUpTokenizationSpaces = %v", tok.CleanUpTokenizationSpaces())
			}
			if tok.ModelMaxLength() != tt.maxLen {
				t.Errorf("ModelMaxLength = %d, want %d", tok.ModelMaxLength(), tt.maxLen)
			}
			for _, s := range tt.special {
				id, ok := tok.TokenID(s)
				if !ok || !tok.IsSpecial(id) {
					t.Errorf("IsSpecial(%q) = false", s)
				}
			}
		})
	}
}

// TestLoadFileErrorNamesPath: errors from LoadFile and Load name the file
// read, not just "tokenizer.json".
func TestLoadFileErrorNamesPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokenizer.json")
	if err := os.WriteFile(path, tinyWith(t, map[string]any{"model.type": "WordPiece"}), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, load := range map[string]func() (*Tokenizer, error){
		"LoadFile": func() (*Tokenizer, error) { return LoadFile(path) },
		"Load":     func() (*Tokenizer, error) { return Load(dir) },
	} {
		_, err := load()
		if err == nil || !strings.HasPrefix(err.Error(), path+": model.type") || !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: error %v, want it to start with %q and wrap ErrUnsupported", name, err, path+": model.type")
		}
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("LoadFile of a missing file: %v", err)
	}
}
