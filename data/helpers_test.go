package data

import (
	"errors"
	"strings"
)

// Fake tokenizer: every byte b is the id b+3; 1 is BOS, 2 is EOS.
const (
	fakeBOS   = 1
	fakeEOS   = 2
	fakeVocab = 259
)

type byteTokenizer struct{ noSpecial bool }

func (byteTokenizer) Encode(text string) []int {
	ids := make([]int, len(text))
	for i := 0; i < len(text); i++ {
		ids[i] = int(text[i]) + 3
	}
	return ids
}

func (t byteTokenizer) EncodeSpecial(text string) []int {
	if t.noSpecial {
		return t.Encode(text)
	}
	return append([]int{fakeBOS}, t.Encode(text)...)
}

func (t byteTokenizer) EOS() (int, bool) { return fakeEOS, !t.noSpecial }

// detok spells ids back out: bytes, and <bos>/<eos>/<?> for the rest.
func detok(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		switch {
		case id == fakeBOS:
			b.WriteString("<bos>")
		case id == fakeEOS:
			b.WriteString("<eos>")
		case id >= 3 && id < fakeVocab:
			b.WriteByte(byte(id - 3))
		default:
			b.WriteString("<?>")
		}
	}
	return b.String()
}

// ids spells text as the fake tokenizer's Encode would, written out
// independently of it.
func ids(text string) []int {
	out := []int{}
	for _, c := range []byte(text) {
		out = append(out, int(c)+3)
	}
	return out
}

// cat concatenates id slices.
func cat(parts ...[]int) []int {
	out := []int{}
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// fill returns n copies of v.
func fill(n, v int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// turnChat renders "<s>" then "<|role|>\n" + content + "<|end|>\n" per
// message, a ChatML-like template.
type turnChat struct {
	trim          bool // Llama 3 style: content | trim
	defaultSystem bool // Qwen 2.5 style: a system turn when there is none
	dropHistory   bool // Qwen 3 style: earlier assistant turns lose their content
	ignoreContent bool // writes no content at all
}

var errTemplate = errors.New("template: unknown role")

func (c turnChat) RenderChat(msgs []Message) (string, error) {
	var b strings.Builder
	b.WriteString("<s>")
	if c.defaultSystem && (len(msgs) == 0 || msgs[0].Role != "system") {
		b.WriteString("<|system|>\nBe brief.<|end|>\n")
	}
	for i, m := range msgs {
		switch m.Role {
		case "system", "user", "assistant":
		default:
			return "", errTemplate
		}
		content := m.Content
		if c.trim {
			content = strings.TrimSpace(content)
		}
		if c.dropHistory && m.Role == "assistant" && i < len(msgs)-1 {
			content = "[...]"
		}
		if c.ignoreContent {
			content = ""
		}
		b.WriteString("<|" + m.Role + "|>\n" + content + "<|end|>\n")
	}
	return b.String(), nil
}
