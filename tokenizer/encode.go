package tokenizer

import (
	"strings"
	"sync"
)

// encodeScratch holds the buffers of one encode call.
type encodeScratch struct {
	sections, subsections []string
	piecesA, piecesB      []string
	pre                   preScratch
	bpe                   bpeScratch
}

var scratchPool = sync.Pool{New: func() any { return new(encodeScratch) }}

// jsSpace reports whether r is whitespace for JavaScript's trim (WhiteSpace
// and LineTerminator).
func jsSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// stripAround applies lstrip/rstrip of the added tokens among parts, as
// Hugging Face's JavaScript code does: an lstrip token trims the end of the
// part before it, an rstrip token the start of the part after it.
func (t *Tokenizer) stripAround(parts []string) {
	for i, p := range parts {
		ai, ok := t.addedByContent[p]
		if !ok {
			continue
		}
		a := &t.added[ai]
		if a.LStrip && i > 0 {
			parts[i-1] = strings.TrimRightFunc(parts[i-1], jsSpace)
		}
		if a.RStrip && i < len(parts)-1 {
			parts[i+1] = strings.TrimLeftFunc(parts[i+1], jsSpace)
		}
	}
}

func (t *Tokenizer) encode(text string, addSpecial bool) []int {
	text = sanitize(text)
	sc := scratchPool.Get().(*encodeScratch)
	defer scratchPool.Put(sc)
	out := make([]int, 0, len(text)/3+4)

	sections := t.splitRaw.split(text, sc.sections[:0])
	t.stripAround(sections)
	for si, sec := range sections {
		if sec == "" {
			continue
		}
		if ai, ok := t.addedByContent[sec]; ok {
			out = append(out, t.added[ai].ID)
			continue
		}
		if t.normalizer != nil {
			sec = t.normalizer.normalize(sec)
			if sec == "" {
				continue
			}
		}
		subs := t.splitNorm.split(sec, sc.subsections[:0])
		if len(subs) > 1 {
			t.stripAround(subs)
		}
		for _, sub := range subs {
			if sub == "" {
				continue
			}
			if ai, ok := t.addedByContent[sub]; ok {
				out = append(out, t.added[ai].ID)
				continue
			}
			pieces := t.pre.run(sub, si, sc)
			start := len(out)
			for _, p := range pieces {
				out = t.model.encodeWord(p, t.pre.byteLevel, &sc.bpe, out)
			}
			if t.model.fuseUnk && t.model.unkID >= 0 {
				out = fuseUnk(out, start, int(t.model.unkID))
			}
		}
		sc.subsections = subs[:0]
	}
	sc.sections = sections[:0]
	if addSpecial {
		out = t.addSpecialTokens(out)
	}
	return out
}

// fuseUnk collapses runs of unk in out[start:].
func fuseUnk(out []int, start, unk int) []int {
	w := start
	for i := start; i < len(out); i++ {
		if out[i] == unk && w > start && out[w-1] == unk {
			continue
		}
		out[w] = out[i]
		w++
	}
	return out[:w]
}

func (t *Tokenizer) addSpecialTokens(ids []int) []int {
	templated := false
	for i := range t.post {
		if t.post[i].kind == postTemplate {
			ids = t.post[i].template.apply(ids)
			templated = true
		}
	}
	if templated {
		return ids
	}
	if t.cfg.addBOS != nil && *t.cfg.addBOS {
		if bos, ok := t.BOS(); ok {
			ids = append([]int{bos}, ids...)
		}
	}
	if t.cfg.addEOS != nil && *t.cfg.addEOS {
		if eos, ok := t.EOS(); ok {
			ids = append(ids, eos)
		}
	}
	return ids
}
