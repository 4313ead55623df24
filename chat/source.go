package chat

import (
	"strings"
	"unicode/utf8"
)

// tag is one {{ … }}, {% … %} or {# … #} in a template source, found the way
// the jinja library's scanner finds them: from an opener to the first closer
// that is not inside a quoted string (comments have no strings).
type tag struct {
	kind      byte // '{' expression, '%' statement, '#' comment
	start     int  // byte offset of the opener
	bodyStart int  // byte offset just after the opener and any '-'
	bodyEnd   int  // byte offset of any '-' before the closer, or of the closer
	end       int  // byte offset just after the closer
	line, col int  // 1-based position of the opener; col counts characters
}

// keyword returns a statement's first word ("if", "endfor", …).
func (t tag) keyword(src string) string {
	body := strings.TrimLeft(src[t.bodyStart:t.bodyEnd], " \t\r\n")
	end := 0
	for end < len(body) && isIdentByte(body[end]) {
		end++
	}
	return body[:end]
}

// scanTags returns the tags of src in order. It stops at an unclosed tag,
// which the jinja library reports itself.
func scanTags(src string) []tag {
	var tags []tag
	line, lineStart := 1, 0
	i := 0
	for i+1 < len(src) {
		c := src[i]
		if c == '\n' {
			line++
			lineStart = i + 1
			i++
			continue
		}
		next := src[i+1]
		if c != '{' || (next != '{' && next != '%' && next != '#') {
			i++
			continue
		}
		t := tag{kind: next, start: i, line: line, col: utf8.RuneCountInString(src[lineStart:i]) + 1}
		closer := "}}"
		switch next {
		case '%':
			closer = "%}"
		case '#':
			closer = "#}"
		}
		j := i + 2
		if j < len(src) && src[j] == '-' {
			j++
		}
		t.bodyStart = j
		closed := false
		for j < len(src) {
			ch := src[j]
			if next != '#' && (ch == '\'' || ch == '"') {
				j = skipString(src, j)
				continue
			}
			if ch == '-' && strings.HasPrefix(src[j+1:], closer) {
				t.bodyEnd = j
				j += 3
				closed = true
				break
			}
			if strings.HasPrefix(src[j:], closer) {
				t.bodyEnd = j
				j += 2
				closed = true
				break
			}
			j++
		}
		if !closed {
			return tags
		}
		// Count the newlines inside the tag.
		if n := strings.Count(src[i:j], "\n"); n > 0 {
			line += n
			lineStart = i + strings.LastIndexByte(src[i:j], '\n') + 1
		}
		t.end = j
		tags = append(tags, t)
		i = j
	}
	return tags
}

// skipString returns the offset just past the quoted string starting at
// src[i], honouring backslash escapes; len(src) if it is never closed.
func skipString(src string, i int) int {
	quote := src[i]
	i++
	for i < len(src) && src[i] != quote {
		if src[i] == '\\' {
			i++
		}
		i++
	}
	if i < len(src) {
		i++
	}
	return i
}

func isIdentByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// tojsonAlias stands in for the tojson filter in the source handed to the
// jinja library; see rewriteFilters. It has tojson's length, so every line and
// column in the library's error messages stays true to the caller's source.
const tojsonAlias = "hfjson"

// trimAlias stands in for the trim filter, as tojsonAlias does for tojson.
const trimAlias = "hftr"

// filterAliases are the filters Render provides itself, each with its alias.
var filterAliases = [...]struct{ name, alias string }{
	{"tojson", tojsonAlias},
	{"trim", trimAlias},
}

// rewriteFilters renames every use of the filters in filterAliases (a "|"
// then the filter's name outside string literals, in expressions and
// statements, outside raw blocks) to its alias.
//
// github.com/ardanlabs/jinja v1.8.0 resolves built-in filter names before the
// render's variables. Its tojson(indent=…) sorts keys and escapes <, > and
// &, unlike Python's json.dumps that transformers uses; its trim strips Go's
// white space, where Jinja2's is Python's str.strip (which also strips
// U+001C..U+001F). A filter name the library does not know is looked up
// among the render's variables, where Render puts transformers' filters under
// these aliases.
func rewriteFilters(src string) string {
	var b strings.Builder
	last := 0
	inRaw := false
	for _, t := range scanTags(src) {
		if t.kind == '#' {
			continue
		}
		if t.kind == '%' {
			switch t.keyword(src) {
			case "raw":
				inRaw = true
				continue
			case "endraw":
				inRaw = false
				continue
			}
		}
		if inRaw {
			continue
		}
		body := src[t.bodyStart:t.bodyEnd]
		for k := 0; k < len(body); k++ {
			switch body[k] {
			case '\'', '"':
				k = skipString(body, k) - 1
			case '|':
				n := k + 1
				for n < len(body) && (body[n] == ' ' || body[n] == '\t' || body[n] == '\n' || body[n] == '\r') {
					n++
				}
				for _, f := range filterAliases {
					if strings.HasPrefix(body[n:], f.name) && (n+len(f.name) == len(body) || !isIdentByte(body[n+len(f.name)])) {
						at := t.bodyStart + n
						b.WriteString(src[last:at])
						b.WriteString(f.alias)
						last = at + len(f.name)
						break
					}
				}
			}
		}
	}
	if last == 0 {
		return src
	}
	b.WriteString(src[last:])
	return b.String()
}

// blockEnds maps each block statement to the statement that closes it.
var blockEnds = map[string]string{
	"if": "endif", "for": "endfor", "macro": "endmacro", "call": "endcall",
	"filter": "endfilter", "raw": "endraw", "generation": "endgeneration", "set": "endset",
}

// unclosedBlock finds the innermost block statement named keyword that has
// no closing statement, the one the jinja library reports as "unclosed".
func unclosedBlock(src, keyword string) (tag, bool) {
	var open []tag
	inRaw := false
	for _, t := range scanTags(src) {
		if t.kind != '%' {
			continue
		}
		kw := t.keyword(src)
		if inRaw && kw != "endraw" {
			continue
		}
		switch {
		case kw == "set":
			// Only "{% set x %}" without "=" opens a block.
			if !strings.Contains(src[t.bodyStart:t.bodyEnd], "=") {
				open = append(open, t)
			}
		case blockEnds[kw] != "":
			open = append(open, t)
			inRaw = kw == "raw"
		case strings.HasPrefix(kw, "end"):
			inRaw = false
			for n := len(open) - 1; n >= 0; n-- {
				if blockEnds[open[n].keyword(src)] == kw {
					open = open[:n]
					break
				}
			}
		}
	}
	for n := len(open) - 1; n >= 0; n-- {
		if open[n].keyword(src) == keyword {
			return open[n], true
		}
	}
	return tag{}, false
}

// tagsOnLine returns the tags that start on the given line.
func tagsOnLine(src string, line int) []tag {
	var on []tag
	for _, t := range scanTags(src) {
		if t.line == line {
			on = append(on, t)
		}
	}
	return on
}
