package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Hand-written matchers for the pre-tokenizer regexes almost every
// byte-level tokenizer uses. They follow the backtracking semantics of the
// regexes exactly (tested against regexp2 in fastmatch_test.go) and run
// several times faster.

// Split regexes with a hand-written matcher.
const (
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Pattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// gpt2Matcher returns the matcher of the ByteLevel pre-tokenizer's regex.
func gpt2Matcher() matcher { return gpt2Fast{} }

// fastMatcher returns a hand-written matcher for a well-known Split regex,
// or nil.
func fastMatcher(source string) matcher {
	switch source {
	case llama3Pattern:
		return llamaFast{maxDigits: 3}
	case qwen2Pattern:
		return llamaFast{maxDigits: 1}
	}
	return nil
}

type charClass uint8

const (
	classOther charClass = iota // none of the below
	classLetter
	classNumber
	classSpace
)

// asciiClass classifies ASCII for both whitespace definitions (they agree
// on ASCII).
var asciiClass = func() (t [128]charClass) {
	for r := 0; r < 128; r++ {
		switch {
		case r == ' ' || r >= '\t' && r <= '\r':
			t[r] = classSpace
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			t[r] = classLetter
		case r >= '0' && r <= '9':
			t[r] = classNumber
		}
	}
	return t
}()

// whiteSpace is Unicode White_Space (Oniguruma's \s).
func whiteSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

func classify(r rune, space func(rune) bool) charClass {
	if r < 128 {
		return asciiClass[r]
	}
	switch {
	case space(r):
		return classSpace
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	}
	return classOther
}

// runOf returns the end of the run of characters of class c starting at i.
func runOf(s string, i int, c charClass, space func(rune) bool) int {
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		if classify(r, space) != c {
			break
		}
		i += w
	}
	return i
}

// spaceEnd handles \s+(?!\S)|\s+ at i (a whitespace character): the run,
// less its last character when a non-space follows and the run is longer
// than one character.
func spaceEnd(s string, i int, space func(rune) bool) int {
	j, last, n := i, i, 0
	for j < len(s) {
		r, w := utf8.DecodeRuneInString(s[j:])
		if classify(r, space) != classSpace {
			break
		}
		last = j
		j += w
		n++
	}
	if j < len(s) && n >= 2 {
		return last
	}
	return j
}

func findAll(s string, dst [][2]int, at func(s string, i int) int) [][2]int {
	for i := 0; i < len(s); {
		end := at(s, i)
		if end <= i { // unreachable: every character starts a match
			_, w := utf8.DecodeRuneInString(s[i:])
			i += w
			continue
		}
		dst = append(dst, [2]int{i, end})
		i = end
	}
	return dst
}

// gpt2Fast is the ByteLevel regex with JavaScript's \s:
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
type gpt2Fast struct{}

func (gpt2Fast) find(s string, dst [][2]int) [][2]int { return findAll(s, dst, gpt2At) }

func gpt2At(s string, i int) int {
	if s[i] == '\'' && i+1 < len(s) {
		switch s[i+1] {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r', 'v':
			if i+2 < len(s) && s[i+2] == 'e' {
				return i + 3
			}
		case 'l':
			if i+2 < len(s) && s[i+2] == 'l' {
				return i + 3
			}
		}
	}
	if s[i] == ' ' && i+1 < len(s) {
		r, _ := utf8.DecodeRuneInString(s[i+1:])
		if c := classify(r, jsSpace); c != classSpace {
			return runOf(s, i+1, c, jsSpace)
		}
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	c := classify(r, jsSpace)
	if c == classSpace {
		return spaceEnd(s, i, jsSpace)
	}
	return runOf(s, i, c, jsSpace)
}

// llamaFast is the Llama 3 (maxDigits 3) or Qwen2 (maxDigits 1) regex:
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
type llamaFast struct{ maxDigits int }

func (m llamaFast) find(s string, dst [][2]int) [][2]int {
	return findAll(s, dst, func(s string, i int) int { return m.at(s, i) })
}

func lowerASCII(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func isCRLF(r rune) bool { return r == '\r' || r == '\n' }

func (m llamaFast) at(s string, i int) int {
	if s[i] == '\'' && i+1 < len(s) {
		switch lowerASCII(s[i+1]) {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r', 'v':
			if i+2 < len(s) && lowerASCII(s[i+2]) == 'e' {
				return i + 3
			}
		case 'l':
			if i+2 < len(s) && lowerASCII(s[i+2]) == 'l' {
				return i + 3
			}
		}
	}
	r0, w0 := utf8.DecodeRuneInString(s[i:])
	c0 := classify(r0, whiteSpace)
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if c0 == classLetter {
		return runOf(s, i, classLetter, whiteSpace)
	}
	if c0 != classNumber && !isCRLF(r0) && i+w0 < len(s) {
		r1, _ := utf8.DecodeRuneInString(s[i+w0:])
		if classify(r1, whiteSpace) == classLetter {
			return runOf(s, i+w0, classLetter, whiteSpace)
		}
	}
	// \p{N}{1,max}
	if c0 == classNumber {
		j := i
		for k := 0; j < len(s) && k < m.maxDigits; k++ {
			r, w := utf8.DecodeRuneInString(s[j:])
			if classify(r, whiteSpace) != classNumber {
				break
			}
			j += w
		}
		return j
	}
	// ?[^\s\p{L}\p{N}]+[\r\n]*
	start := -1
	if c0 == classOther {
		start = i
	} else if r0 == ' ' && i+1 < len(s) {
		r1, _ := utf8.DecodeRuneInString(s[i+1:])
		if classify(r1, whiteSpace) == classOther {
			start = i + 1
		}
	}
	if start >= 0 {
		j := runOf(s, start, classOther, whiteSpace)
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j
	}
	// c0 is whitespace. \s*[\r\n]+: up to the last CR or LF of the run.
	j, lastCRLF := i, -1
	for j < len(s) {
		r, w := utf8.DecodeRuneInString(s[j:])
		if classify(r, whiteSpace) != classSpace {
			break
		}
		if isCRLF(r) {
			lastCRLF = j
		}
		j += w
	}
	if lastCRLF >= 0 {
		return lastCRLF + 1
	}
	return spaceEnd(s, i, whiteSpace)
}
