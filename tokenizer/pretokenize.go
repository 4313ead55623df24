package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
)

// pipeline is the pre-tokenizer, flattened into stages. When the last stage
// is ByteLevel, its byte-to-character mapping is left to the model
// (byteLevel is then true and the pieces are raw text).
type pipeline struct {
	stages    []preStage
	byteLevel bool
}

type preStage interface {
	// split appends the pieces of s to dst; section is the index of the
	// text section (between added tokens) s comes from.
	split(s string, section int, dst []string, sc *preScratch) []string
}

type preScratch struct {
	spans [][2]int
}

// run pre-tokenizes one section of normalized text. The pieces live in
// sc's buffers until the next call.
func (p *pipeline) run(s string, section int, sc *encodeScratch) []string {
	cur := append(sc.piecesA[:0], s)
	next := sc.piecesB[:0]
	for _, st := range p.stages {
		next = next[:0]
		for _, piece := range cur {
			next = st.split(piece, section, next, &sc.pre)
		}
		cur, next = next, cur
	}
	sc.piecesA, sc.piecesB = cur, next
	return cur
}

// Split behaviours (Hugging Face's SplitDelimiterBehavior).
const (
	behaviorRemoved = iota
	behaviorIsolated
	behaviorMergedWithPrevious
	behaviorMergedWithNext
	behaviorContiguous
)

type splitStage struct {
	m        matcher
	behavior int
	invert   bool
}

func (st *splitStage) split(s string, _ int, dst []string, sc *preScratch) []string {
	sc.spans = st.m.find(s, sc.spans[:0])
	return splitOn(s, sc.spans, st.behavior, st.invert, dst)
}

// splitOn cuts s around the matched spans as Hugging Face's
// NormalizedString.split does. With invert, the matches are the pieces and
// the gaps the delimiters.
func splitOn(s string, spans [][2]int, behavior int, invert bool, dst []string) []string {
	if behavior == behaviorIsolated { // the common case, without the parts list
		prev := 0
		for _, sp := range spans {
			if sp[0] == sp[1] {
				continue
			}
			if sp[0] > prev {
				dst = append(dst, s[prev:sp[0]])
			}
			dst = append(dst, s[sp[0]:sp[1]])
			prev = sp[1]
		}
		if prev < len(s) {
			dst = append(dst, s[prev:])
		}
		return dst
	}
	// Build the alternating list of (text, isDelimiter) parts, skipping empty
	// matches.
	type part struct {
		start, end int
		delim      bool
	}
	var parts []part
	prev := 0
	for _, sp := range spans {
		if sp[0] == sp[1] {
			continue
		}
		if sp[0] > prev {
			parts = append(parts, part{prev, sp[0], invert})
		}
		parts = append(parts, part{sp[0], sp[1], !invert})
		prev = sp[1]
	}
	if prev < len(s) {
		parts = append(parts, part{prev, len(s), invert})
	}
	switch behavior {
	case behaviorRemoved:
		for _, p := range parts {
			if !p.delim {
				dst = append(dst, s[p.start:p.end])
			}
		}
	case behaviorIsolated:
		for _, p := range parts {
			dst = append(dst, s[p.start:p.end])
		}
	case behaviorContiguous:
		for i := 0; i < len(parts); i++ {
			p := parts[i]
			for p.delim && i+1 < len(parts) && parts[i+1].delim {
				i++
				p.end = parts[i].end
			}
			dst = append(dst, s[p.start:p.end])
		}
	case behaviorMergedWithPrevious:
		start := -1
		for _, p := range parts {
			if p.delim {
				if start < 0 {
					start = p.start
				}
				dst = append(dst, s[start:p.end])
				start = -1
				continue
			}
			if start >= 0 {
				dst = append(dst, s[start:p.start])
			}
			start = p.start
		}
		if start >= 0 {
			dst = append(dst, s[start:])
		}
	case behaviorMergedWithNext:
		start := -1
		for _, p := range parts {
			if p.delim {
				if start >= 0 {
					dst = append(dst, s[start:p.start])
				}
				start = p.start
				continue
			}
			if start < 0 {
				start = p.start
			}
			dst = append(dst, s[start:p.end])
			start = -1
		}
		if start >= 0 {
			dst = append(dst, s[start:])
		}
	}
	return dst
}

// byteLevelStage is the ByteLevel pre-tokenizer. With mapBytes the pieces
// are mapped to GPT-2's byte characters here; otherwise the model does it.
type byteLevelStage struct {
	addPrefixSpace bool
	m              matcher // nil when use_regex is false
	mapBytes       bool
}

func (st *byteLevelStage) split(s string, _ int, dst []string, sc *preScratch) []string {
	if st.addPrefixSpace && !strings.HasPrefix(s, " ") {
		s = " " + s
	}
	start := len(dst)
	if st.m == nil {
		dst = append(dst, s)
	} else {
		// Hugging Face's JavaScript code keeps the matches only; its regex
		// matches every character, so nothing is lost.
		sc.spans = st.m.find(s, sc.spans[:0])
		for _, sp := range sc.spans {
			if sp[1] > sp[0] {
				dst = append(dst, s[sp[0]:sp[1]])
			}
		}
	}
	if st.mapBytes {
		for i := start; i < len(dst); i++ {
			dst[i] = byteLevelString(dst[i])
		}
	}
	return dst
}

type digitsStage struct{ individual bool }

func (st *digitsStage) split(s string, _ int, dst []string, _ *preScratch) []string {
	start := 0
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			i++
			continue
		}
		if i > start {
			dst = append(dst, s[start:i])
		}
		j := i + 1
		if !st.individual {
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
		}
		dst = append(dst, s[i:j])
		i, start = j, j
	}
	if start < len(s) {
		dst = append(dst, s[start:])
	}
	return dst
}

// Metaspace prepend schemes.
const (
	prependAlways = iota
	prependFirst
	prependNever
)

type metaspaceStage struct {
	replacement string
	scheme      int
	splitWords  bool
}

func (st *metaspaceStage) split(s string, section int, dst []string, _ *preScratch) []string {
	s = strings.ReplaceAll(s, " ", st.replacement)
	if !strings.HasPrefix(s, st.replacement) &&
		(st.scheme == prependAlways || st.scheme == prependFirst && section == 0) {
		s = st.replacement + s
	}
	if !st.splitWords {
		return append(dst, s)
	}
	var spans [][2]int
	spans = literalMatcher{st.replacement}.find(s, spans)
	return splitOn(s, spans, behaviorMergedWithNext, false, dst)
}

func parsePipeline(raw json.RawMessage) (pipeline, error) {
	var p pipeline
	stages, err := parsePreTokenizer(raw, "pre_tokenizer")
	if err != nil {
		return p, err
	}
	p.stages = stages
	if n := len(stages); n > 0 {
		if bl, ok := stages[n-1].(*byteLevelStage); ok {
			bl.mapBytes = false
			p.byteLevel = true
		}
	}
	return p, nil
}

func parsePreTokenizer(raw json.RawMessage, path string) ([]preStage, error) {
	o, typ, ok, err := component(raw, path)
	if !ok || err != nil {
		return nil, err
	}
	switch typ {
	case "Sequence":
		return sequence(o, "pretokenizers", parsePreTokenizer)
	case "ByteLevel":
		st := &byteLevelStage{mapBytes: true}
		if st.addPrefixSpace, err = o.boolean("add_prefix_space", false); err != nil {
			return nil, err
		}
		useRegex, err := o.boolean("use_regex", true)
		if err != nil {
			return nil, err
		}
		if _, err := o.boolean("trim_offsets", false); err != nil {
			return nil, err
		}
		if useRegex {
			st.m = gpt2Matcher()
		}
		return []preStage{st}, nil
	case "Split":
		p, err := parsePattern(o, "pattern")
		if err != nil {
			return nil, err
		}
		st := &splitStage{m: newMatcher(p)}
		if st.invert, err = o.boolean("invert", false); err != nil {
			return nil, err
		}
		b, err := o.str("behavior", "")
		if err != nil {
			return nil, err
		}
		switch b {
		case "Removed":
			st.behavior = behaviorRemoved
		case "Isolated":
			st.behavior = behaviorIsolated
		case "MergedWithPrevious":
			st.behavior = behaviorMergedWithPrevious
		case "MergedWithNext":
			st.behavior = behaviorMergedWithNext
		case "Contiguous":
			st.behavior = behaviorContiguous
		default:
			return nil, fmt.Errorf("%s = %q: want Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous", o.field("behavior"), b)
		}
		return []preStage{st}, nil
	case "Digits":
		ind, err := o.boolean("individual_digits", false)
		if err != nil {
			return nil, err
		}
		return []preStage{&digitsStage{individual: ind}}, nil
	case "Metaspace":
		st := &metaspaceStage{}
		if st.replacement, err = o.str("replacement", "▁"); err != nil {
			return nil, err
		}
		if st.replacement == "" {
			return nil, fmt.Errorf("%s: empty", o.field("replacement"))
		}
		scheme, err := prependScheme(o)
		if err != nil {
			return nil, err
		}
		switch scheme {
		case "always":
			st.scheme = prependAlways
		case "first":
			st.scheme = prependFirst
		case "never":
			st.scheme = prependNever
		default:
			return nil, fmt.Errorf("%s = %q: want always, first or never", o.field("prepend_scheme"), scheme)
		}
		if st.splitWords, err = o.boolean("split", false); err != nil {
			return nil, err
		}
		return []preStage{st}, nil
	}
	return nil, unsupported(path, typ)
}

// prependScheme reads a Metaspace component's prepend_scheme, whose
// default follows the older add_prefix_space flag (true: "always").
func prependScheme(o object) (string, error) {
	addPrefix, err := o.boolean("add_prefix_space", true)
	if err != nil {
		return "", err
	}
	def := "always"
	if !addPrefix {
		def = "never"
	}
	return o.str("prepend_scheme", def)
}
