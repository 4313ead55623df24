package tokenizer

import (
	"encoding/json"
	"unicode/utf8"
)

// Fast paths for the two big parts of a tokenizer.json, model.vocab and
// model.merges (hundreds of thousands of entries), and for splitting the
// model object. They run on JSON that encoding/json has already validated
// and give up (ok=false) on anything unusual, in which case the caller uses
// encoding/json, which also produces the error messages.

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads a JSON string at s.i.
func (s *scanner) str() (string, bool) {
	if s.peek() != '"' {
		return "", false
	}
	start := s.i
	j := s.i + 1
	escaped := false
	for j < len(s.b) {
		c := s.b[j]
		if c == '"' {
			break
		}
		if c == '\\' {
			escaped = true
			j += 2
			continue
		}
		if c < 0x20 {
			return "", false
		}
		j++
	}
	if j >= len(s.b) {
		return "", false
	}
	s.i = j + 1
	body := s.b[start+1 : j]
	if !escaped && utf8.Valid(body) {
		return string(body), true
	}
	var out string
	if err := json.Unmarshal(s.b[start:j+1], &out); err != nil {
		return "", false
	}
	return out, true
}

// integer reads a JSON integer small enough for an int32.
func (s *scanner) integer() (int64, bool) {
	neg := false
	if s.peek() == '-' {
		neg = true
		s.i++
	}
	start := s.i
	var v int64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		v = v*10 + int64(s.b[s.i]-'0')
		s.i++
		if s.i-start > 10 {
			return 0, false
		}
	}
	if s.i == start {
		return 0, false
	}
	if c := s.peek(); c == '.' || c == 'e' || c == 'E' {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

// skipValue moves past one (valid) JSON value.
func (s *scanner) skipValue() bool {
	depth := 0
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case '"':
			if _, ok := s.strSkip(); !ok {
				return false
			}
			if depth == 0 {
				return true
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return false
			}
			if depth == 0 {
				s.i++
				return true
			}
		case ',', ':', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return true
			}
		}
		s.i++
	}
	return depth == 0
}

// strSkip moves past a string without decoding it.
func (s *scanner) strSkip() (int, bool) {
	j := s.i + 1
	for j < len(s.b) {
		switch s.b[j] {
		case '"':
			s.i = j + 1
			return j, true
		case '\\':
			j += 2
		default:
			j++
		}
	}
	return 0, false
}

// splitObjectFast returns the raw values of the fields of a validated JSON
// object.
func splitObjectFast(b []byte) (map[string]json.RawMessage, bool) {
	out := map[string]json.RawMessage{}
	ok := scanMembers(b, func(s *scanner, key string) bool {
		start := s.i
		if !s.skipValue() {
			return false
		}
		out[key] = json.RawMessage(b[start:s.i])
		return true
	})
	return out, ok
}

// scanVocab reads {"token": id, ...}.
func scanVocab(b []byte) (map[string]int32, bool) {
	out := make(map[string]int32, len(b)/16)
	ok := scanMembers(b, func(s *scanner, key string) bool {
		v, ok := s.integer()
		if !ok || v < -1<<31 || v >= 1<<31 {
			return false
		}
		out[key] = int32(v)
		return true
	})
	return out, ok
}

// scanMembers walks the members of the JSON object b, calling value with
// the scanner at the start of each member's value; value consumes it.
func scanMembers(b []byte, value func(s *scanner, key string) bool) bool {
	s := &scanner{b: b}
	s.ws()
	if s.peek() != '{' {
		return false
	}
	s.i++
	for {
		s.ws()
		if s.peek() == '}' {
			return true
		}
		key, ok := s.str()
		if !ok {
			return false
		}
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.ws()
		if !value(s, key) {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			return true
		default:
			return false
		}
	}
}

// strBytes returns the decoded body of a JSON string at s.i, without
// copying when it needs no unescaping and is valid UTF-8.
func (s *scanner) strBytes() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, false
	}
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			body := s.b[s.i+1 : j]
			if !utf8.Valid(body) {
				return nil, false
			}
			s.i = j + 1
			return body, true
		case c == '\\':
			str, ok := s.str()
			return []byte(str), ok
		case c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// scanMergeIDs reads model.merges straight into ids, without allocating
// the strings. It gives up on anything unusual, including a token missing
// from the vocab (the slow path then reports it).
func (m *bpe) scanMergeIDs(b []byte) bool {
	s := &scanner{b: b}
	s.ws()
	if s.peek() != '[' {
		return false
	}
	s.i++
	var buf []byte
	var kind byte
	for rank := int32(0); ; rank++ {
		s.ws()
		c := s.peek()
		if c == ']' {
			return true
		}
		if kind == 0 {
			kind = c
		} else if c != kind {
			return false
		}
		var x, y []byte
		switch c {
		case '"':
			line, ok := s.strBytes()
			if !ok {
				return false
			}
			k := -1
			for i, ch := range line {
				if ch == ' ' {
					if k >= 0 {
						return false
					}
					k = i
				}
			}
			if k <= 0 || k == len(line)-1 {
				return false
			}
			x, y = line[:k], line[k+1:]
		case '[':
			s.i++
			s.ws()
			var ok bool
			if x, ok = s.strBytes(); !ok {
				return false
			}
			s.ws()
			if s.peek() != ',' {
				return false
			}
			s.i++
			s.ws()
			if y, ok = s.strBytes(); !ok {
				return false
			}
			s.ws()
			if s.peek() != ']' || len(x) == 0 || len(y) == 0 {
				return false
			}
			s.i++
		default:
			return false
		}
		a, okA := m.vocab[string(x)]
		bID, okB := m.vocab[string(y)]
		buf = append(append(buf[:0], x...), y...)
		id, okC := m.vocab[string(buf)]
		if !okA || !okB || !okC {
			return false
		}
		m.merges.put(pairKey(a, bID), mergeRule{rank: rank, id: id})
		m.mergeList = append(m.mergeList, [2]int32{a, bID})
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			return true
		default:
			return false
		}
	}
}

// scanMergesFast reads ["a b", ...] or [["a", "b"], ...].
func scanMergesFast(b []byte) ([][2]string, bool) {
	s := &scanner{b: b}
	s.ws()
	if s.peek() != '[' {
		return nil, false
	}
	s.i++
	var out [][2]string
	var kind byte // the first entry's opening character; the others must match
	for {
		s.ws()
		if c := s.peek(); kind == 0 {
			kind = c
		} else if c != kind && c != ']' {
			return nil, false
		}
		switch s.peek() {
		case ']':
			return out, true
		case '"':
			line, ok := s.str()
			if !ok {
				return nil, false
			}
			a, rest, found := cutSpace(line)
			if !found {
				return nil, false // let the slow path report it
			}
			out = append(out, [2]string{a, rest})
		case '[':
			s.i++
			var p [2]string
			for k := 0; k < 2; k++ {
				s.ws()
				v, ok := s.str()
				if !ok {
					return nil, false
				}
				p[k] = v
				s.ws()
				if k == 0 {
					if s.peek() != ',' {
						return nil, false
					}
					s.i++
				}
			}
			if s.peek() != ']' || p[0] == "" || p[1] == "" {
				return nil, false // malformed or an empty token: the slow path reports it
			}
			s.i++
			out = append(out, p)
		default:
			return nil, false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			return out, true
		default:
			return nil, false
		}
	}
}

// cutSpace splits "a b" into "a" and "b"; anything else (no space, two
// spaces, an empty side) is refused.
func cutSpace(line string) (string, string, bool) {
	k := -1
	for i := 0; i < len(line); i++ {
		if line[i] == ' ' {
			if k >= 0 {
				return "", "", false
			}
			k = i
		}
	}
	if k <= 0 || k == len(line)-1 {
		return "", "", false
	}
	return line[:k], line[k+1:], true
}
