package tokenizer

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// gpt2Regex is the ByteLevel regex with JavaScript's \s, for regexp2.
var gpt2Regex = regexp2.MustCompile(`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^`+jsSpaceClass+
	`\p{L}\p{N}]+|[`+jsSpaceClass+`]+(?![^`+jsSpaceClass+`])|[`+jsSpaceClass+`]+`, regexp2.None)

// fastPairs pairs each hand-written matcher with regexp2 running the regex
// it stands for.
func fastPairs(t testing.TB) []struct {
	name       string
	fast, slow matcher
} {
	t.Helper()
	compile := func(src string) matcher {
		re, err := compileOniguruma(src)
		if err != nil {
			t.Fatal(err)
		}
		return regexMatcher{re}
	}
	return []struct {
		name       string
		fast, slow matcher
	}{
		{"gpt2", gpt2Matcher(), regexMatcher{gpt2Regex}},
		{"llama3", fastMatcher(llama3Pattern), compile(llama3Pattern)},
		{"qwen2", fastMatcher(qwen2Pattern), compile(qwen2Pattern)},
	}
}

// trickyRunes are the characters where the regexes' alternatives differ.
var trickyRunes = []rune{
	' ', ' ', ' ', '\t', '\n', '\r', '\v', '\f', 0x85, 0xA0, 0x2003, 0x2028, 0x3000, 0xFEFF, 0x200B,
	'\'', '\'', 's', 'S', 't', 'T', 'r', 'R', 'e', 'E', 'v', 'V', 'm', 'M', 'l', 'L', 'd', 'D', 'x',
	'0', '7', 0x663, 0x967, 0xBD, 0xB2, 0x2167, 0x1D7D9,
	'.', ',', '!', '-', '"', '(', '<', '|', '>', '_', '$', 0x2014, 0xAB,
	'é', 0x301, 0x308, 'ß', 'Ω', 'ж', 'א', 'ع', 0x64E, 'न', 0x94D, '你', 'ア', '한', 0x1F600, 0x1F3FD, 0x200D, 0xFFFD,
}

func randomTricky(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteRune(trickyRunes[r.IntN(len(trickyRunes))])
	}
	return b.String()
}

func TestFastMatchersAgreeWithRegex(t *testing.T) {
	var texts []string
	for _, dir := range []string{"gpt2", "mistral-added"} {
		src := filepath.Join("testdata", dir)
		if dir == "mistral-added" {
			src = filepath.Join("testdata", "variants", dir)
		}
		for _, c := range loadReference(t, src).Cases {
			texts = append(texts, c.Text)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		texts = append(texts, randomTricky(r, 1+r.IntN(24)))
	}
	for _, p := range fastPairs(t) {
		t.Run(p.name, func(t *testing.T) {
			bad := 0
			for _, s := range texts {
				got, want := p.fast.find(s, nil), p.slow.find(s, nil)
				if !slices.Equal(got, want) {
					bad++
					if bad <= 5 {
						t.Errorf("%q:\n fast  %v\n regex %v", s, spansText(s, got), spansText(s, want))
					}
				}
			}
			t.Logf("%d strings, %d disagreements", len(texts), bad)
		})
	}
}

func spansText(s string, spans [][2]int) []string {
	out := make([]string, len(spans))
	for i, sp := range spans {
		out[i] = s[sp[0]:sp[1]]
	}
	return out
}

func FuzzFastMatchers(f *testing.F) {
	for _, s := range []string{"", "Hello world", "it's 'S 'LL", "  \n\r\n x", "a\u0085 \ufeffb", "123456 ١٢٣", "e\u0301 😀👍🏽"} {
		f.Add(s)
	}
	pairs := fastPairs(f)
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			s = sanitize(s)
		}
		for _, p := range pairs {
			got, want := p.fast.find(s, nil), p.slow.find(s, nil)
			if !slices.Equal(got, want) {
				t.Fatalf("%s %q:\n fast  %v\n regex %v", p.name, s, spansText(s, got), spansText(s, want))
			}
		}
	})
}

// chunkingSubjects are the Metaspace tokenizers whose long words are cut
// into chunks (encodeChunks).
func chunkingSubjects(t testing.TB) []*Tokenizer {
	var out []*Tokenizer
	for _, name := range []string{"mistral", "mistral-unk"} {
		tok := loadRef(t, name)
		if !tok.model.chunking {
			t.Fatalf("%s: chunking off", name)
		}
		out = append(out, tok)
	}
	return out
}

// checkChunking compares BPE on the whole word with BPE chunk by chunk.
func checkChunking(t testing.TB, tok *Tokenizer, text string) {
	word := "▁" + strings.ReplaceAll(sanitize(text), " ", "▁")
	var sc bpeScratch
	whole := tok.model.encodeUncached(word, false, &sc, nil)
	chunked := tok.model.encodeChunks(word, &sc, nil)
	if !slices.Equal(whole, chunked) {
		t.Fatalf("%q: whole %v, in chunks %v", word, whole, chunked)
	}
}

func TestChunkingExact(t *testing.T) {
	subjects := chunkingSubjects(t)
	t.Logf("characters before ▁ in merged tokens (no cut there): %d", len(subjects[0].model.noCut))
	var texts []string
	for _, c := range loadReference(t, filepath.Join("testdata", "mistral")).Cases {
		texts = append(texts, c.Text)
	}
	r := rand.New(rand.NewPCG(3, 4))
	words := []string{"the", "The", "▁", "▁▁", " ", "  ", "   ", "\t", "\n", "ing", "tion", "你好", "😀", "1234", "'s", ".", ",", "-", "__", "==", "é"}
	for i := 0; i < 2000; i++ {
		var b strings.Builder
		for k := r.IntN(30); k >= 0; k-- {
			if r.IntN(3) == 0 {
				b.WriteString(randomTricky(r, 1+r.IntN(4)))
			} else {
				b.WriteString(words[r.IntN(len(words))])
			}
		}
		texts = append(texts, b.String())
	}
	for _, tok := range subjects {
		for _, s := range texts {
			checkChunking(t, tok, s)
		}
	}
}

func FuzzChunking(f *testing.F) {
	for _, s := range []string{"Hello  world", "a▁▁b   c", "  \n  x", "你好 世界 😀"} {
		f.Add(s)
	}
	subjects := chunkingSubjects(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range subjects {
			checkChunking(t, tok, s)
		}
	})
}
