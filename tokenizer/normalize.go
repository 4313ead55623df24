package tokenizer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/dlclark/regexp2"
	"golang.org/x/text/unicode/norm"
)

type normalizer interface {
	normalize(s string) string
}

type unicodeNorm struct{ form norm.Form }

func (n unicodeNorm) normalize(s string) string { return n.form.String(s) }

type prependNorm struct{ prefix string }

func (n prependNorm) normalize(s string) string {
	if s == "" {
		return s
	}
	return n.prefix + s
}

type replaceNorm struct{ r replacer }

func (n replaceNorm) normalize(s string) string { return n.r.replace(s) }

type sequenceNorm []normalizer

func (n sequenceNorm) normalize(s string) string {
	for _, x := range n {
		s = x.normalize(s)
	}
	return s
}

func parseNormalizer(raw json.RawMessage, path string) (normalizer, error) {
	o, typ, ok, err := component(raw, path)
	if !ok || err != nil {
		return nil, err
	}
	switch typ {
	case "NFC":
		return unicodeNorm{norm.NFC}, nil
	case "NFD":
		return unicodeNorm{norm.NFD}, nil
	case "NFKC":
		return unicodeNorm{norm.NFKC}, nil
	case "NFKD":
		return unicodeNorm{norm.NFKD}, nil
	case "Prepend":
		p, err := o.str("prepend", "")
		if err != nil {
			return nil, err
		}
		return prependNorm{p}, nil
	case "Replace":
		r, err := parseReplacer(o)
		if err != nil {
			return nil, err
		}
		return replaceNorm{r}, nil
	case "Sequence":
		items, err := o.list("normalizers")
		if err != nil {
			return nil, err
		}
		var seq sequenceNorm
		for i, item := range items {
			n, err := parseNormalizer(item, o.field("normalizers")+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		return seq, nil
	}
	return nil, unsupported(path, typ)
}

// replacer replaces every match of a String or Regex pattern.
type replacer struct {
	literal string
	re      *regexp2.Regexp
	content string
}

func (r replacer) replace(s string) string {
	if r.re == nil {
		if r.literal == "" {
			return s
		}
		return strings.ReplaceAll(s, r.literal, r.content)
	}
	out, err := r.re.Replace(s, r.content, -1, -1)
	if err != nil {
		return s
	}
	return out
}

func parseReplacer(o object) (replacer, error) {
	var r replacer
	var err error
	if r.content, err = o.str("content", ""); err != nil {
		return r, err
	}
	p, err := parsePattern(o, "pattern")
	if err != nil {
		return r, err
	}
	r.literal, r.re = p.literal, p.re
	if r.re != nil {
		// Content is literal text, not a substitution template.
		r.content = strings.ReplaceAll(r.content, "$", "$$")
	}
	return r, nil
}

// pattern is a tokenizer.json {"String": ...} or {"Regex": ...}.
type pattern struct {
	literal string
	re      *regexp2.Regexp
	source  string // the Regex text, for matcher selection
}

func parsePattern(o object, key string) (pattern, error) {
	path := o.field(key)
	if !o.has(key) {
		return pattern{}, fmt.Errorf("%s: missing", path)
	}
	po, err := parseObject(o.fields[key], path)
	if err != nil {
		return pattern{}, err
	}
	if po.has("String") {
		s, err := po.str("String", "")
		return pattern{literal: s}, err
	}
	if po.has("Regex") {
		s, err := po.str("Regex", "")
		if err != nil {
			return pattern{}, err
		}
		re, err := compileOniguruma(s)
		if err != nil {
			return pattern{}, fmt.Errorf("%s.Regex %q: %w", path, s, err)
		}
		return pattern{re: re, source: s}, nil
	}
	return pattern{}, fmt.Errorf("%s: want {\"String\": ...} or {\"Regex\": ...}", path)
}
