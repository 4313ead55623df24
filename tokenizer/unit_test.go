package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestDecodeUTF8Lossy checks the WHATWG UTF-8 decoder (one U+FFFD per
// maximal invalid subsequence) on the spec's classic cases.
func TestDecodeUTF8Lossy(t *testing.T) {
	const r = "\uFFFD"
	tests := []struct {
		in       string
		stripBOM bool
		want     string
	}{
		{"héllo 😀", false, "héllo 😀"},
		{"\xE2\x82A", false, r + "A"},                      // truncated 3-byte sequence
		{"\xF0\x9F\x98", false, r},                         // truncated emoji at the end
		{"\xF0\x9F\x98\xF0\x9F\x98\x80", false, r + "😀"},   // truncated, then whole
		{"\xED\xA0\x80", false, r + r + r},                 // a surrogate: ED's range is 80..9F
		{"\xC0\x80", false, r + r},                         // overlong
		{"\xE0\x80\x80", false, r + r + r},                 // overlong: E0's range is A0..BF
		{"\xF4\x90\x80\x80", false, r + r + r + r},         // above U+10FFFF
		{"\xFF\xFEa", false, r + r + "a"},                  // never valid
		{"\x80\x80", false, r + r},                         // lone continuation bytes
		{"\xEF\xBB\xBFA", false, "\uFEFFA"},                // BOM kept
		{"\xEF\xBB\xBFA", true, "A"},                       // BOM dropped
		{"\xEF\xBB\xBF\xEF\xBB\xBF", true, "\uFEFF"},       // only the first
		{"A\xEF\xBB\xBF", true, "A\uFEFF"},                 // only at the start
		{"\xEF\xBB\xBF\xFF", true, r},                      // dropped before decoding the rest
		{"\xC3", false, r},                                 // truncated 2-byte sequence
		{"\xC3\xA9\xC3", false, "é" + r},                   // valid then truncated
		{"\xE2\x28\xA1", false, r + "(" + r},               // bad second byte
		{"\xF0\x90\x28\xBC", false, r + "(" + r},           // bad third byte
		{"\xF8\x88\x80\x80\x80", false, r + r + r + r + r}, // 5-byte form
	}
	for _, tt := range tests {
		if got := decodeUTF8Lossy([]byte(tt.in), tt.stripBOM); got != tt.want {
			t.Errorf("decodeUTF8Lossy(%q, %v) = %q, want %q", tt.in, tt.stripBOM, got, tt.want)
		}
	}
}

func TestTranslateOniguruma(t *testing.T) {
	ws := "[" + whiteSpaceClass + "]"
	tests := []struct {
		src, want string
	}{
		{`\s+(?!\S)`, ws + `+(?![^` + whiteSpaceClass + `])`},
		{`[^\s\p{L}\p{N}]+`, `[^` + whiteSpaceClass + `\p{L}\p{N}]+`},
		{`(?i:'s|'t)`, `(?:'[sS]|'[tT])`},
		{`(?i:[a-c]x)`, `(?:[a-cA-C][xX])`},
		{`(?i:[_k])`, `(?:[_kK])`},
		{`\p{N}{1,3}`, `\p{N}{1,3}`},
		{`a{,2}`, `a{0,2}`},
		{`a{2}`, `a{2}`},
		{`a{1,2}+`, `(?:a{1,2})+`},
		{`a++b*+`, `a+b*`},
		{`(?>ab)`, `(?:ab)`},
		{`\x{41}\x{1F600}`, `A😀`},
		{`x{`, `x\{`},
		{`a b#`, `a\ b\#`},
		{`(?<=a)(?<!b)(?=c)(?!d)(?:e)(f)`, `(?<=a)(?<!b)(?=c)(?!d)(?:e)(f)`},
		{`\h+`, `[0-9A-Fa-f]+`},
		{`^a$`, `^a$`},
	}
	for _, tt := range tests {
		got, err := translateOniguruma(tt.src)
		if err != nil || got != tt.want {
			t.Errorf("translateOniguruma(%q) = %q, %v; want %q", tt.src, got, err, tt.want)
		}
	}
	for _, bad := range []string{`[[:alpha:]]`, `[\S]`, `(?x)a`, `(a`, `a)`, `[a-`, `\`, `[a&&b]`, `\x{110000}`, `\p{L`, "\xff"} {
		if got, err := translateOniguruma(bad); err == nil {
			t.Errorf("translateOniguruma(%q) = %q, want an error", bad, got)
		}
	}
}

// TestOnigurumaSemantics checks matches of translated regexes where
// Oniguruma (as Hugging Face's JavaScript code rewrites it) and regexp2's
// own syntax would differ.
func TestOnigurumaSemantics(t *testing.T) {
	tests := []struct {
		src, text string
		want      []string
	}{
		{`(?i:'s|'ll)`, "'S 's 'Ll 'lL", []string{"'S", "'s", "'Ll", "'lL"}},
		{`(?i:k)`, "k K \u212A", []string{"k", "K"}}, // ASCII folding only: no Kelvin sign
		{`\s+`, "a\u0085b\u00a0c\ufeffd", []string{"\u0085", "\u00a0"}},
		{`\p{N}{1,3}`, "12345", []string{"123", "45"}},
		{`^x|y$`, "x\nxy\ny", []string{"x", "x", "y", "y"}},
		{`\d+`, "12 ١٢", []string{"12", "١٢"}},
	}
	for _, tt := range tests {
		re, err := compileOniguruma(tt.src)
		if err != nil {
			t.Fatalf("%q: %v", tt.src, err)
		}
		got := spansText(tt.text, regexMatcher{re}.find(tt.text, nil))
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q on %q: %q, want %q", tt.src, tt.text, got, tt.want)
		}
	}
}

// TestSplitBehaviors uses the example of Hugging Face's documentation of
// SplitDelimiterBehavior: "the-final--countdown" split on "-".
func TestSplitBehaviors(t *testing.T) {
	s := "the-final--countdown"
	spans := literalMatcher{"-"}.find(s, nil)
	tests := []struct {
		behavior int
		invert   bool
		want     []string
	}{
		{behaviorRemoved, false, []string{"the", "final", "countdown"}},
		{behaviorIsolated, false, []string{"the", "-", "final", "-", "-", "countdown"}},
		{behaviorMergedWithPrevious, false, []string{"the-", "final-", "-", "countdown"}},
		{behaviorMergedWithNext, false, []string{"the", "-final", "-", "-countdown"}},
		{behaviorContiguous, false, []string{"the", "-", "final", "--", "countdown"}},
		// Inverted, the matches are the content and the rest the delimiters.
		{behaviorRemoved, true, []string{"-", "-", "-"}},
		{behaviorIsolated, true, []string{"the", "-", "final", "-", "-", "countdown"}},
		{behaviorMergedWithPrevious, true, []string{"the", "-final", "-", "-countdown"}},
		{behaviorContiguous, true, []string{"the", "-", "final", "-", "-", "countdown"}},
	}
	for _, tt := range tests {
		if got := splitOn(s, spans, tt.behavior, tt.invert, nil); !slices.Equal(got, tt.want) {
			t.Errorf("behavior %d invert %v: %q, want %q", tt.behavior, tt.invert, got, tt.want)
		}
	}
}

func TestPreTokenizerStages(t *testing.T) {
	var sc preScratch
	tests := []struct {
		name    string
		st      preStage
		in      string
		section int
		want    []string
	}{
		{"digits individual", &digitsStage{individual: true}, "ab123c45", 0, []string{"ab", "1", "2", "3", "c", "4", "5"}},
		{"digits contiguous", &digitsStage{}, "ab123c45", 0, []string{"ab", "123", "c", "45"}},
		{"digits only ASCII", &digitsStage{}, "x١٢3", 0, []string{"x١٢", "3"}},
		{"metaspace always", &metaspaceStage{replacement: "▁"}, "Hey friend", 3, []string{"▁Hey▁friend"}},
		{"metaspace first, first section", &metaspaceStage{replacement: "▁", scheme: prependFirst}, "Hey", 0, []string{"▁Hey"}},
		{"metaspace first, later section", &metaspaceStage{replacement: "▁", scheme: prependFirst}, "Hey", 1, []string{"Hey"}},
		{"metaspace never", &metaspaceStage{replacement: "▁", scheme: prependNever}, "a b", 0, []string{"a▁b"}},
		{"metaspace no double prefix", &metaspaceStage{replacement: "▁"}, " a", 0, []string{"▁a"}},
		{"metaspace split", &metaspaceStage{replacement: "▁", splitWords: true}, "Hey  friend!", 0, []string{"▁Hey", "▁", "▁friend!"}},
		{"byte-level prefix", &byteLevelStage{addPrefixSpace: true, m: gpt2Matcher()}, "Hi  there", 0, []string{" Hi", " ", " there"}},
		{"byte-level mapped", &byteLevelStage{mapBytes: true}, "a b\n", 0, []string{"aĠbĊ"}},
	}
	for _, tt := range tests {
		if got := tt.st.split(tt.in, tt.section, nil, &sc); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestTrieSplit(t *testing.T) {
	tr := newTrie([]string{"<s>", "<s>x", "ab", "单"}, []bool{false, false, false, false})
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"plain", []string{"plain"}},
		{"<s>", []string{"<s>"}},
		{"a<s>xb", []string{"a", "<s>x", "b"}}, // longest match
		{"<s<s>", []string{"<s", "<s>"}},
		{"aab单ab", []string{"a", "ab", "单", "ab"}},
	}
	for _, tt := range tests {
		if got := tr.split(tt.in, nil); !slices.Equal(got, tt.want) {
			t.Errorf("split(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	single := newTrie([]string{"x"}, []bool{true})
	for in, want := range map[string][]string{
		"x":     {"x"},
		"a x b": {"a ", "x", " b"},
		"axb":   {"axb"},
		"x1":    {"x1"},
		"(x)":   {"(", "x", ")"},
	} {
		if got := single.split(in, nil); !slices.Equal(got, want) {
			t.Errorf("single_word split(%q) = %q, want %q", in, got, want)
		}
	}
}

// tinyDir writes tinyJSON with patches and a tokenizer_config.json.
func tinyDir(t *testing.T, set map[string]any, config string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tinyWith(t, set), 0o644); err != nil {
		t.Fatal(err)
	}
	if config != "" {
		if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestEncodeSpecial(t *testing.T) {
	added := []any{
		map[string]any{"id": 8, "content": "<|end|>", "special": true},
		map[string]any{"id": 9, "content": "<s>", "special": true},
	}
	template := map[string]any{"type": "TemplateProcessing",
		"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}, map[string]any{"SpecialToken": map[string]any{"id": "<|end|>", "type_id": 0}}},
		"special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{9}}}}
	roberta := map[string]any{"type": "RobertaProcessing", "cls": []any{"<s>", 9}, "sep": []any{"<|end|>", 8}}
	tests := []struct {
		name   string
		set    map[string]any
		config string
		want   []int
		bos    int
		eos    int
	}{
		{"nothing to add", map[string]any{"added_tokens": added}, ``, []int{5}, -1, -1},
		{"add_bos_token", map[string]any{"added_tokens": added}, `{"bos_token": "<s>", "eos_token": "<|end|>", "add_bos_token": true}`, []int{9, 5}, 9, 8},
		{"add_bos and add_eos", map[string]any{"added_tokens": added}, `{"bos_token": "<s>", "eos_token": "<|end|>", "add_bos_token": true, "add_eos_token": true}`, []int{9, 5, 8}, 9, 8},
		{"add_eos without eos_token", map[string]any{"added_tokens": added}, `{"add_eos_token": true}`, []int{5}, -1, -1},
		{"template", map[string]any{"added_tokens": added, "post_processor": template}, ``, []int{9, 5, 8}, 9, 8},
		{"template wins over add_bos_token false", map[string]any{"added_tokens": added, "post_processor": template}, `{"add_bos_token": false}`, []int{9, 5, 8}, 9, 8},
		{"template in a sequence", map[string]any{"added_tokens": added, "post_processor": map[string]any{"type": "Sequence", "processors": []any{map[string]any{"type": "ByteLevel"}, template}}}, ``, []int{9, 5, 8}, 9, 8},
		{"template string form", map[string]any{"added_tokens": added, "post_processor": map[string]any{"type": "TemplateProcessing", "single": "<s> $A:0", "special_tokens": map[string]any{}}}, ``, []int{9, 5}, 9, -1},
		{"roberta", map[string]any{"added_tokens": added, "post_processor": roberta}, ``, []int{9, 5, 8}, 9, 8},
		{"config names no bos: template not used for BOS", map[string]any{"added_tokens": added, "post_processor": template}, `{"bos_token": null}`, []int{9, 5, 8}, -1, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Load(tinyDir(t, tt.set, tt.config))
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.EncodeSpecial("abc"); !slices.Equal(got, tt.want) {
				t.Errorf("EncodeSpecial(abc) = %v, want %v", got, tt.want)
			}
			if got := tok.Encode("abc"); !slices.Equal(got, []int{5}) {
				t.Errorf("Encode(abc) = %v, want [5]", got)
			}
			for _, c := range []struct {
				name string
				f    func() (int, bool)
				want int
			}{{"BOS", tok.BOS, tt.bos}, {"EOS", tok.EOS, tt.eos}} {
				id, ok := c.f()
				if (c.want >= 0 && (!ok || id != c.want)) || (c.want < 0 && ok) {
					t.Errorf("%s() = %d, %v; want %d", c.name, id, ok, c.want)
				}
			}
		})
	}
}

func TestAddedTokenStripping(t *testing.T) {
	added := []any{
		map[string]any{"id": 8, "content": "<L>", "lstrip": true, "special": true},
		map[string]any{"id": 9, "content": "<R>", "rstrip": true, "special": true},
		map[string]any{"id": 10, "content": "<N>", "normalized": true},
	}
	tok, err := Parse(tinyWith(t, map[string]any{"added_tokens": added, "normalizer": map[string]any{"type": "NFC"}}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want []int
	}{
		{"abc <L> abc", []int{5, 8, 6}},        // the space before <L> goes
		{"abc \t\u3000<L>abc", []int{5, 8, 5}}, // any whitespace, several
		{"abc <R> abc", []int{5, 3, 9, 5}},     // the space after <R> goes
		{"<R>\n\n abc", []int{9, 5}},           // newlines too
		{"abc <N> abc", []int{5, 3, 10, 6}},    // normalized token, matched after NFC
		{"<L><R> <L>", []int{8, 9, 8}},         // neighbours that are tokens
		{"abc\u00a0<L>", []int{5, 8}},          // U+00A0 is JavaScript whitespace
		{"abc\u0085<L>x", []int{5, 8, 7}},      // U+0085 is not: it stays, and its bytes, outside this vocab, are dropped
		{"abc\u0085 <L>x", []int{5, 8, 7}},
		{"abc", []int{5}},
	}
	for _, tt := range tests {
		if got := tok.Encode(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("Encode(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSetters(t *testing.T) {
	tok, err := Parse([]byte(tinyJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.SetSpecialToken("boss_token", "abc"); err == nil {
		t.Error("unknown role accepted")
	}
	if err := tok.SetSpecialToken("eos_token", "nope"); err == nil {
		t.Error("unknown token accepted")
	}
	if err := tok.SetSpecialToken("eos_token", "<|end|>"); err != nil {
		t.Fatal(err)
	}
	if id, ok := tok.EOS(); !ok || id != 8 {
		t.Errorf("EOS = %d, %v", id, ok)
	}
	if err := tok.SetSpecialToken("eos_token", ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := tok.EOS(); ok {
		t.Error("EOS after removing the role")
	}
	tok.SetAddBOS(true)
	tok.SetSpecialToken("bos_token", "x")
	tok.SetAddEOS(false)
	if got := tok.EncodeSpecial("abc"); !slices.Equal(got, []int{7, 5}) {
		t.Errorf("EncodeSpecial = %v, want [7 5]", got)
	}
	tok.SetCleanUpTokenizationSpaces(true)
	var cfg map[string]any
	if err := json.Unmarshal(tok.configJSON(), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["add_bos_token"] != true || cfg["add_eos_token"] != false || cfg["bos_token"] != "x" || cfg["clean_up_tokenization_spaces"] != true {
		t.Errorf("tokenizer_config.json: %v", cfg)
	}
}

func TestCleanUpTokenization(t *testing.T) {
	tests := map[string]string{
		"Hello , world !":        "Hello, world!",
		"a . b ? c":              "a. b? c",
		"I 'm sure it 's we 're": "I'm sure it's we're",
		"don 't":                 "don 't",
		"do n't":                 "don't",
		"x ' y":                  "x'y",
		"they 've":               "they've",
		"a  ,":                   "a ,",
	}
	for in, want := range tests {
		if got := cleanUpTokenization(in); got != want {
			t.Errorf("cleanUpTokenization(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConcurrentEncode encodes from several goroutines with one Tokenizer
// (run with -race to check the word cache).
func TestConcurrentEncode(t *testing.T) {
	tok := loadRef(t, "gpt2")
	texts := []string{"Hello world", "the quick brown fox", "你好 世界", "it's 2024", strings.Repeat("ab ", 50)}
	want := make([][]int, len(texts))
	for i, s := range texts {
		want[i] = tok.Encode(s)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 200; k++ {
				i := (k + g) % len(texts)
				if got := tok.Encode(texts[i]); !slices.Equal(got, want[i]) {
					errs <- texts[i]
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Errorf("concurrent Encode(%q) differs", s)
	}
}

// TestMergeOrder checks BPE's rule on a vocab built for it: the lowest rank
// merges first, and among equal ranks the leftmost.
func TestMergeOrder(t *testing.T) {
	vocab := map[string]int{"a": 0, "b": 1, "aa": 2, "ab": 3, "aab": 4, "aaa": 5}
	tests := []struct {
		name   string
		merges [][2]string
		in     string
		want   []int
	}{
		{"leftmost among equal ranks", [][2]string{{"a", "a"}}, "aaa", []int{2, 0}},
		{"rank beats position", [][2]string{{"a", "b"}, {"a", "a"}}, "aab", []int{0, 3}},
		{"position when ranks allow", [][2]string{{"a", "a"}, {"a", "b"}, {"aa", "b"}}, "aab", []int{4}},
		// aa·a·a: (a,a) at 2 (rank 0) goes before (aa,a) at 0 (rank 1).
		{"rank over position after a merge", [][2]string{{"a", "a"}, {"aa", "a"}}, "aaaa", []int{2, 2}},
		{"chain", [][2]string{{"a", "a"}, {"aa", "a"}}, "aaa", []int{5}},
	}
	for _, tt := range tests {
		tok, err := NewByteLevelBPE(vocab, tt.merges, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.Encode(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Encode(%q) = %v, want %v", tt.name, tt.in, got, tt.want)
		}
	}
	// A long word goes through the same heap.
	tok, err := NewByteLevelBPE(vocab, [][2]string{{"a", "a"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := tok.Encode(strings.Repeat("a", 1001))
	if len(got) != 501 || got[500] != 0 || slices.ContainsFunc(got[:500], func(id int) bool { return id != 2 }) {
		t.Errorf("Encode(a×1001): %d ids, last %d", len(got), got[len(got)-1])
	}
}
