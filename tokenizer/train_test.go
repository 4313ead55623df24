package tokenizer

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/trained from TrainByteLevelBPE")

// trainedCorpus is testdata/trained/corpus.txt cut into paragraphs.
func trainedCorpus(t testing.TB) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "trained", "corpus.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(data), "\n\n")
}

var trainedSpecial = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}

func trainGolden(t testing.TB) *Tokenizer {
	t.Helper()
	tok := TrainByteLevelBPE(trainedCorpus(t), 600, trainedSpecial)
	for role, content := range map[string]string{"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"} {
		if err := tok.SetSpecialToken(role, content); err != nil {
			t.Fatal(err)
		}
	}
	tok.SetChatTemplate("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}")
	return tok
}

// TestTrainedGolden: training on testdata/trained/corpus.txt and writing the
// result reproduces testdata/trained byte for byte (the files Hugging Face's
// code was run on, see TestReference/trained).
func TestTrainedGolden(t *testing.T) {
	tok := trainGolden(t)
	dir := t.TempDir()
	if *update {
		dir = filepath.Join("testdata", "trained")
	}
	if err := tok.WriteFile(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("testdata", "trained", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from testdata/trained/%s (run go test -run TestTrainedGolden -update, then regenerate the reference)", name, name)
		}
	}
	if tok.VocabSize() != 600 {
		t.Errorf("VocabSize = %d, want 600", tok.VocabSize())
	}
}

func TestTrainByteLevelBPE(t *testing.T) {
	corpus := []string{
		"low lower lowest low low lower",
		"newer newest new new newer wider",
		"<|endoftext|>low<|endoftext|>",
	}
	tests := []struct {
		name      string
		vocabSize int
		special   []string
		wantSize  int
	}{
		{"bytes only", 10, nil, 256},
		{"bytes and specials", 100, []string{"<|endoftext|>", "", "<|endoftext|>", "<pad>"}, 258},
		{"some merges", 262, []string{"<|endoftext|>"}, 262},
		// The corpus runs out of pairs seen twice before 10000.
		{"runs out of pairs", 10000, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := TrainByteLevelBPE(corpus, tt.vocabSize, tt.special)
			if tt.wantSize != 0 && tok.VocabSize() != tt.wantSize {
				t.Errorf("VocabSize = %d, want %d", tok.VocabSize(), tt.wantSize)
			}
			if tt.wantSize == 0 && tok.VocabSize() >= tt.vocabSize {
				t.Errorf("VocabSize = %d, want it to stop early", tok.VocabSize())
			}
			for _, s := range append(corpus, "unseen wörds 😀", "") {
				if got := tok.Decode(tok.Encode(s), false); got != s {
					t.Errorf("Decode(Encode(%q)) = %q", s, got)
				}
			}
			// Specials are single ids; the text around them is not.
			for _, sp := range tt.special {
				if sp == "" {
					continue
				}
				id, ok := tok.TokenID(sp)
				if !ok || !tok.IsSpecial(id) {
					t.Fatalf("special %q: id %d, %v, special %v", sp, id, ok, tok.IsSpecial(id))
				}
				if got := tok.Encode(sp); !slices.Equal(got, []int{id}) {
					t.Errorf("Encode(%q) = %v, want [%d]", sp, got, id)
				}
			}
		})
	}
}

// TestTrainMergesFrequentPairs checks the merge order on a corpus whose
// pair counts are known: "ab" appears 6 times, "abc" 4 times, "de" 3 times.
func TestTrainMergesFrequentPairs(t *testing.T) {
	corpus := []string{"abc abc abc abc ab ab de de de"}
	tok := TrainByteLevelBPE(corpus, 256+4, nil)
	// Words: "abc"x1, " abc"x3, " ab"x2, " de"x3 (GPT-2 keeps the space).
	// Pair counts: (a,b)=6, (Ġ,a)=5, (b,c)=4, (Ġ,d)=3, (d,e)=3. After
	// a+b and Ġ+ab, three pairs occur 3 times: (Ġab,c), (Ġ,d), (d,e); the
	// tie goes to the smallest ids: Ġ (byte 0x20) + d, then Ġab + c
	// (Ġab = 257 < Ġd = 258).
	want := [][2]string{{"a", "b"}, {"Ġ", "ab"}, {"Ġ", "d"}, {"Ġab", "c"}}
	if got := mergeStrings(tok); !slices.Equal(got, want) {
		t.Fatalf("merges %q, want %q", got, want)
	}
	if got, want := tok.Encode(" abc"), []int{259}; !slices.Equal(got, want) {
		t.Errorf("Encode(\" abc\") = %v, want %v", got, want)
	}
}

func mergeStrings(tok *Tokenizer) [][2]string {
	var out [][2]string
	for _, m := range tok.model.mergeList {
		a, _ := tok.Token(int(m[0]))
		b, _ := tok.Token(int(m[1]))
		out = append(out, [2]string{a, b})
	}
	return out
}

// TestWriteFileRoundTrip: every testdata tokenizer written with WriteFile
// and read back with Load encodes and decodes as the original.
func TestWriteFileRoundTrip(t *testing.T) {
	texts := []string{"Hello world", " <s>Hi</s> ", "<|im_start|>user\nok<|im_end|>", "naïve café 你好 😀", "x  \n\ty", "1234567 it's"}
	for _, rt := range materialize(t) {
		if testing.Short() && rt.name != "gpt2" && rt.name != "mistral" {
			continue
		}
		t.Run(rt.name, func(t *testing.T) {
			orig := loadRef(t, rt.name)
			dir := t.TempDir()
			if err := orig.WriteFile(dir); err != nil {
				t.Fatal(err)
			}
			back, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if back.VocabSize() != orig.VocabSize() {
				t.Errorf("VocabSize %d, want %d", back.VocabSize(), orig.VocabSize())
			}
			if !maps2Equal(back.SpecialTokens(), orig.SpecialTokens()) || back.ChatTemplate() != orig.ChatTemplate() || back.CleanUpTokenizationSpaces() != orig.CleanUpTokenizationSpaces() {
				t.Errorf("config not preserved: %v %v", back.SpecialTokens(), orig.SpecialTokens())
			}
			for _, s := range texts {
				a, b := orig.EncodeSpecial(s), back.EncodeSpecial(s)
				if !slices.Equal(a, b) {
					t.Errorf("EncodeSpecial(%q): %v after the round trip, %v before", s, b, a)
				}
				if x, y := orig.Decode(a, true), back.Decode(a, true); x != y {
					t.Errorf("Decode: %q after the round trip, %q before", y, x)
				}
			}
			// Writing the re-read tokenizer gives the same bytes.
			again, err := back.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			first, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, first) {
				t.Error("MarshalJSON of the re-read tokenizer differs from the written file")
			}
		})
	}
}

func maps2Equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
