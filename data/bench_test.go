package data

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func benchJSONL(records int) string {
	var b strings.Builder
	for i := range records {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, `{"text": "record %d %s"}`+"\n", i, strings.Repeat("lorem ipsum ", 40))
		case 1:
			fmt.Fprintf(&b, `{"prompt": "question %d?", "completion": "%s"}`+"\n", i, strings.Repeat("answer ", 40))
		default:
			b.WriteString(`{"input_ids": [`)
			for t := range 256 {
				if t > 0 {
					b.WriteString(", ")
				}
				fmt.Fprint(&b, t)
			}
			b.WriteString("]}\n")
		}
	}
	return b.String()
}

func BenchmarkDecode(b *testing.B) {
	in := benchJSONL(300)
	b.SetBytes(int64(len(in)))
	opts := Options{Tokenizer: byteTokenizer{}, VocabSize: fakeVocab}
	for b.Loop() {
		if _, _, err := Decode(strings.NewReader(in), "b.jsonl", opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAssistantOnly(b *testing.B) {
	var sb strings.Builder
	for range 100 {
		sb.WriteString(`{"messages": [`)
		for turn := range 8 {
			if turn > 0 {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, `{"role": "user", "content": "%s"}, {"role": "assistant", "content": "%s"}`,
				strings.Repeat("q", 100), strings.Repeat("a", 200))
		}
		sb.WriteString("]}\n")
	}
	in := sb.String()
	b.SetBytes(int64(len(in)))
	opts := Options{Tokenizer: byteTokenizer{}, Chat: turnChat{}, AssistantOnly: true}
	for b.Loop() {
		if _, _, err := Decode(strings.NewReader(in), "b.jsonl", opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPack(b *testing.B) {
	exs := randomExamples(rand.New(rand.NewPCG(1, 1)), 2000, 512)
	for b.Loop() {
		Pack(exs, 1024)
	}
}

func BenchmarkLoaderNext(b *testing.B) {
	exs := randomExamples(rand.New(rand.NewPCG(1, 1)), 2000, 512)
	l := NewLoader(exs, 8, true, 1, 0)
	for b.Loop() {
		l.Next()
	}
}
