package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	benchOnce sync.Once
	benchDocs []string
	benchSize int
)

// benchText is a few hundred KB of mixed text cut into documents: the
// trained corpus (English prose and code), every reference string (many
// scripts, emoji, whitespace runs, long words) and the license texts.
func benchText(b *testing.B) ([]string, int) {
	benchOnce.Do(func() {
		var parts []string
		parts = append(parts, trainedCorpus(b)...)
		for _, dir := range []string{"gpt2", "qwen2.5"} {
			ref := loadReference(b, filepath.Join("testdata", dir))
			for _, c := range ref.Cases {
				parts = append(parts, c.Text)
			}
		}
		for _, f := range []string{"qwen2.5/LICENSE", "gpt2/LICENSE", "README.md"} {
			data, err := os.ReadFile(filepath.Join("testdata", f))
			if err != nil {
				b.Fatal(err)
			}
			parts = append(parts, strings.Split(string(data), "\n\n")...)
		}
		// Twice: a real corpus repeats itself, and the word cache counts.
		benchDocs = append(parts, parts...)
		for _, p := range benchDocs {
			benchSize += len(p)
		}
	})
	return benchDocs, benchSize
}

func benchEncode(b *testing.B, name string, cold bool) {
	docs, size := benchText(b)
	tok, err := Load(refTokDir(b, name))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	tokens := 0
	for b.Loop() {
		if cold {
			tok.cache.init()
		}
		for _, d := range docs {
			tokens += len(tok.Encode(d))
		}
	}
	b.ReportMetric(float64(tokens)/float64(b.N)/float64(size)*1000, "tokens/KB")
}

// BenchmarkEncode encodes ~300 KB of mixed text with each family of
// tokenizer; "cold" empties the word cache before each pass.
func BenchmarkEncode(b *testing.B) {
	for _, name := range []string{"gpt2", "qwen2.5", "mistral", "mistral-metaspace", "qwen3", "gemma3"} {
		b.Run(name, func(b *testing.B) { benchEncode(b, name, false) })
		b.Run(name+"/cold", func(b *testing.B) { benchEncode(b, name, true) })
	}
}

func BenchmarkDecode(b *testing.B) {
	docs, size := benchText(b)
	for _, name := range []string{"gpt2", "mistral", "gemma3"} {
		b.Run(name, func(b *testing.B) {
			tok, err := Load(refTokDir(b, name))
			if err != nil {
				b.Fatal(err)
			}
			ids := make([][]int, len(docs))
			for i, d := range docs {
				ids[i] = tok.Encode(d)
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				for _, x := range ids {
					tok.Decode(x, false)
				}
			}
		})
	}
}

func BenchmarkLoad(b *testing.B) {
	for _, name := range []string{"gpt2", "qwen2.5", "qwen3", "gemma3"} {
		b.Run(name, func(b *testing.B) {
			dir := refTokDir(b, name)
			for b.Loop() {
				if _, err := Load(dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkTrain(b *testing.B) {
	corpus := trainedCorpus(b)
	size := 0
	for _, c := range corpus {
		size += len(c)
	}
	b.SetBytes(int64(size))
	for b.Loop() {
		TrainByteLevelBPE(corpus, 600, trainedSpecial)
	}
}
