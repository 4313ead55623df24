package tokenizer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

type decoderStep interface {
	// chain transforms the token strings (Hugging Face's decode_chain).
	chain(t *Tokenizer, tokens []string) []string
}

// Decode turns ids back into text, as Hugging Face's decode(ids,
// skip_special_tokens=skipSpecial) does: the decoder runs over the tokens,
// then, when clean_up_tokenization_spaces is set, spaces before punctuation
// and contractions are removed. Ids outside the vocabulary are skipped.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) string {
	tokens := make([]string, 0, len(ids))
	for _, id := range ids {
		tok, ok := t.Token(id)
		if !ok {
			continue
		}
		if skipSpecial && t.special[tok] {
			continue
		}
		tokens = append(tokens, tok)
	}
	var text string
	if t.dec == nil {
		text = strings.Join(tokens, " ")
	} else {
		for _, d := range t.dec {
			tokens = d.chain(t, tokens)
		}
		text = strings.Join(tokens, "")
	}
	if t.cfg.cleanUp {
		text = cleanUpTokenization(text)
	}
	return text
}

// cleanUpTokenization is Hugging Face's clean_up_tokenization.
func cleanUpTokenization(s string) string {
	return cleanUpReplacer.Replace(s)
}

// The replacements are applied one after another, in Hugging Face's order
// (a one-pass strings.Replacer would differ on overlapping matches).
var cleanUpReplacer = sequentialReplacer{
	{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
	{" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
}

type sequentialReplacer [][2]string

func (r sequentialReplacer) Replace(s string) string {
	for _, p := range r {
		if strings.Contains(s, p[0]) {
			s = strings.ReplaceAll(s, p[0], p[1])
		}
	}
	return s
}

type byteLevelDecoder struct{}

func (byteLevelDecoder) chain(t *Tokenizer, tokens []string) []string {
	var out []string
	var buf []byte
	flush := func() {
		if buf != nil {
			out = append(out, decodeUTF8Lossy(buf, false))
			buf = nil
		}
	}
	for _, tok := range tokens {
		if t.addedContent[tok] {
			flush()
			out = append(out, tok)
			continue
		}
		if buf == nil {
			buf = []byte{}
		}
		for _, r := range tok {
			// A character outside GPT-2's byte map decodes to 0, as in
			// Hugging Face's JavaScript code.
			buf = append(buf, runeToByte[r])
		}
	}
	flush()
	return out
}

type metaspaceDecoder struct {
	replacement string
	stripFirst  bool
}

func (d metaspaceDecoder) chain(_ *Tokenizer, tokens []string) []string {
	out := make([]string, len(tokens))
	for i, tok := range tokens {
		s := strings.ReplaceAll(tok, d.replacement, " ")
		if i == 0 && d.stripFirst {
			s = strings.TrimPrefix(s, " ")
		}
		out[i] = s
	}
	return out
}

type replaceDecoder struct{ r replacer }

func (d replaceDecoder) chain(_ *Tokenizer, tokens []string) []string {
	out := make([]string, len(tokens))
	for i, tok := range tokens {
		out[i] = d.r.replace(tok)
	}
	return out
}

type byteFallbackDecoder struct{}

// byteTokenValue parses "<0xE4>".
func byteTokenValue(tok string) (byte, bool) {
	if len(tok) != 6 || !strings.HasPrefix(tok, "<0x") || tok[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(tok[3:5], 16, 8)
	if err != nil {
		return 0, false
	}
	return byte(v), true
}

func (byteFallbackDecoder) chain(_ *Tokenizer, tokens []string) []string {
	out := make([]string, 0, len(tokens))
	var bytes []byte
	for _, tok := range tokens {
		if b, ok := byteTokenValue(tok); ok {
			bytes = append(bytes, b)
			continue
		}
		if len(bytes) > 0 {
			out = append(out, decodeUTF8Lossy(bytes, true))
			bytes = bytes[:0]
		}
		out = append(out, tok)
	}
	if len(bytes) > 0 {
		out = append(out, decodeUTF8Lossy(bytes, true))
	}
	return out
}

type fuseDecoder struct{}

func (fuseDecoder) chain(_ *Tokenizer, tokens []string) []string {
	return []string{strings.Join(tokens, "")}
}

type stripDecoder struct {
	content     rune // -1: never matches
	start, stop int
}

func (d stripDecoder) chain(_ *Tokenizer, tokens []string) []string {
	out := make([]string, len(tokens))
	for i, tok := range tokens {
		rs := []rune(tok)
		lo, hi := 0, len(rs)
		for k := 0; k < d.start && k < len(rs) && rs[k] == d.content; k++ {
			lo = k + 1
		}
		for k := 0; k < d.stop && len(rs)-1-k >= 0 && rs[len(rs)-1-k] == d.content; k++ {
			hi = len(rs) - 1 - k
		}
		if lo >= hi {
			out[i] = ""
		} else {
			out[i] = string(rs[lo:hi])
		}
	}
	return out
}

func parseDecoder(raw json.RawMessage, path string) ([]decoderStep, error) {
	o, typ, ok, err := component(raw, path)
	if !ok || err != nil {
		return nil, err
	}
	switch typ {
	case "Sequence":
		return sequence(o, "decoders", parseDecoder)
	case "ByteLevel":
		return []decoderStep{byteLevelDecoder{}}, nil
	case "Metaspace":
		d := metaspaceDecoder{}
		if d.replacement, err = o.str("replacement", "▁"); err != nil {
			return nil, err
		}
		scheme, err := prependScheme(o)
		if err != nil {
			return nil, err
		}
		d.stripFirst = scheme != "never"
		return []decoderStep{d}, nil
	case "Replace":
		r, err := parseReplacer(o)
		if err != nil {
			return nil, err
		}
		return []decoderStep{replaceDecoder{r}}, nil
	case "ByteFallback":
		return []decoderStep{byteFallbackDecoder{}}, nil
	case "Fuse":
		return []decoderStep{fuseDecoder{}}, nil
	case "Strip":
		d := stripDecoder{content: -1}
		c, err := o.str("content", " ")
		if err != nil {
			return nil, err
		}
		if r, n := utf8.DecodeRuneInString(c); n == len(c) && n > 0 && r <= 0xFFFF {
			d.content = r
		}
		if d.start, err = o.integer("start", 0); err != nil {
			return nil, err
		}
		if d.stop, err = o.integer("stop", 0); err != nil {
			return nil, err
		}
		if d.start < 0 || d.stop < 0 {
			return nil, fmt.Errorf("%s: start and stop must not be negative", path)
		}
		return []decoderStep{d}, nil
	}
	return nil, unsupported(path, typ)
}

// decodeUTF8Lossy decodes b as the WHATWG Encoding Standard's UTF-8 decoder
// does (what a browser's or node's TextDecoder does): each maximal invalid
// subsequence becomes one U+FFFD. With stripBOM a leading byte-order mark
// is dropped (TextDecoder's default).
func decodeUTF8Lossy(b []byte, stripBOM bool) string {
	if stripBOM && len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		b = b[3:]
	}
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	var cp rune
	needed, seen := 0, 0
	lower, upper := byte(0x80), byte(0xBF)
	for i := 0; i < len(b); {
		c := b[i]
		if needed == 0 {
			switch {
			case c <= 0x7F:
				out = append(out, c)
			case c >= 0xC2 && c <= 0xDF:
				needed, cp = 1, rune(c&0x1F)
			case c >= 0xE0 && c <= 0xEF:
				if c == 0xE0 {
					lower = 0xA0
				}
				if c == 0xED {
					upper = 0x9F
				}
				needed, cp = 2, rune(c&0xF)
			case c >= 0xF0 && c <= 0xF4:
				if c == 0xF0 {
					lower = 0x90
				}
				if c == 0xF4 {
					upper = 0x8F
				}
				needed, cp = 3, rune(c&0x7)
			default:
				out = utf8.AppendRune(out, utf8.RuneError)
			}
			i++
			continue
		}
		if c < lower || c > upper {
			cp, needed, seen = 0, 0, 0
			lower, upper = 0x80, 0xBF
			out = utf8.AppendRune(out, utf8.RuneError)
			continue // reprocess c
		}
		lower, upper = 0x80, 0xBF
		cp = cp<<6 | rune(c&0x3F)
		seen++
		i++
		if seen == needed {
			out = utf8.AppendRune(out, cp)
			cp, needed, seen = 0, 0, 0
		}
	}
	if needed != 0 {
		out = utf8.AppendRune(out, utf8.RuneError)
	}
	return string(out)
}
