package tokenizer

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// Unicode White_Space, which Oniguruma's \s (and Hugging Face's JavaScript
// rewrite of it) means.
const whiteSpaceClass = `\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000`

// JavaScript's \s, used by the ByteLevel pre-tokenizer's built-in regex in
// Hugging Face's JavaScript code.
const jsSpaceClass = `\t\n\v\f\r \u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF`

// matcher finds the successive non-overlapping matches of a pattern.
type matcher interface {
	// find appends the [start, end) byte offsets of the matches in s to dst.
	find(s string, dst [][2]int) [][2]int
}

type regexMatcher struct{ re *regexp2.Regexp }

func (m regexMatcher) find(s string, dst [][2]int) [][2]int {
	runes := make([]rune, 0, len(s))
	offs := make([]int, 0, len(s)+1)
	for i, r := range s {
		runes = append(runes, r)
		offs = append(offs, i)
	}
	offs = append(offs, len(s))
	match, err := m.re.FindRunesMatch(runes)
	for match != nil && err == nil {
		start := match.Index
		dst = append(dst, [2]int{offs[start], offs[start+match.Length]})
		match, err = m.re.FindNextMatch(match)
	}
	return dst
}

// literalMatcher matches a fixed string.
type literalMatcher struct{ s string }

func (m literalMatcher) find(s string, dst [][2]int) [][2]int {
	if m.s == "" {
		return dst
	}
	off := 0
	for {
		i := strings.Index(s[off:], m.s)
		if i < 0 {
			return dst
		}
		dst = append(dst, [2]int{off + i, off + i + len(m.s)})
		off += i + len(m.s)
	}
}

// newMatcher returns the matcher for a tokenizer.json pattern.
func newMatcher(p pattern) matcher {
	if p.re == nil {
		return literalMatcher{p.literal}
	}
	if f := fastMatcher(p.source); f != nil {
		return f
	}
	return regexMatcher{p.re}
}

// compileOniguruma compiles a tokenizer.json Regex (Oniguruma syntax, as
// Hugging Face's Rust library reads it) with regexp2, rewritten the way
// Hugging Face's JavaScript library rewrites it: \s is Unicode White_Space,
// (?i:...) folds ASCII letters only, atomic groups and possessive
// quantifiers become ordinary ones.
func compileOniguruma(src string) (*regexp2.Regexp, error) {
	tr, err := translateOniguruma(src)
	if err != nil {
		return nil, err
	}
	re, err := regexp2.Compile(tr, regexp2.Multiline)
	if err != nil {
		return nil, err
	}
	return re, nil
}

func isASCIILetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }

func otherCase(r rune) rune {
	if r >= 'a' && r <= 'z' {
		return r - 'a' + 'A'
	}
	return r - 'A' + 'a'
}

// escapeRune writes r so that it stands for itself in a regexp2 pattern.
func escapeRune(r rune) string {
	if r < 0x80 && strings.ContainsRune(`\^$.|?*+()[]{}-#/ `, r) {
		return `\` + string(r)
	}
	if r <= 0xFFFF && (r < 0x20 || r >= 0x7F) {
		return fmt.Sprintf(`\u%04X`, r)
	}
	return string(r)
}

func translateOniguruma(src string) (string, error) {
	if !utf8.ValidString(src) {
		return "", fmt.Errorf("not valid UTF-8")
	}
	rs := []rune(src)
	var out strings.Builder
	fold := false
	type group struct {
		atomStart int
		fold      bool
	}
	var stack []group
	atomStart := -1 // where the last atom starts in out, for {n,m}+ rewriting
	lastQuant := false
	emitAtom := func(s string) {
		atomStart = out.Len()
		out.WriteString(s)
		lastQuant = false
	}
	for i := 0; i < len(rs); {
		c := rs[i]
		switch c {
		case '\\':
			if i+1 >= len(rs) {
				return "", fmt.Errorf("trailing backslash")
			}
			n := rs[i+1]
			switch n {
			case 's':
				emitAtom("[" + whiteSpaceClass + "]")
				i += 2
			case 'S':
				emitAtom("[^" + whiteSpaceClass + "]")
				i += 2
			case 'h':
				emitAtom("[0-9A-Fa-f]")
				i += 2
			case 'H':
				emitAtom("[^0-9A-Fa-f]")
				i += 2
			case 'G':
				i += 2
			case 'p', 'P':
				end, err := braced(rs, i+2)
				if err != nil {
					return "", err
				}
				emitAtom(string(rs[i:end]))
				i = end
			case 'x':
				if i+2 < len(rs) && rs[i+2] == '{' {
					end, err := braced(rs, i+2)
					if err != nil {
						return "", err
					}
					v, err := strconv.ParseUint(string(rs[i+3:end-1]), 16, 32)
					if err != nil || v > utf8.MaxRune {
						return "", fmt.Errorf("bad escape %s", string(rs[i:end]))
					}
					r := rune(v)
					if fold && isASCIILetter(r) {
						emitAtom("[" + string(r) + string(otherCase(r)) + "]")
					} else {
						emitAtom(escapeRune(r))
					}
					i = end
				} else {
					emitAtom(`\x`)
					i += 2
				}
			default:
				emitAtom(`\` + string(n))
				i += 2
			}
		case '[':
			cls, end, err := translateClass(rs, i, fold)
			if err != nil {
				return "", err
			}
			emitAtom(cls)
			i = end
		case '(':
			rest := string(rs[i:min(i+5, len(rs))])
			stack = append(stack, group{atomStart: out.Len(), fold: fold})
			switch {
			case strings.HasPrefix(rest, "(?i:"):
				fold = true
				out.WriteString("(?:")
				i += 4
			case strings.HasPrefix(rest, "(?>"):
				out.WriteString("(?:")
				i += 3
			case strings.HasPrefix(rest, "(?<=") || strings.HasPrefix(rest, "(?<!"):
				out.WriteString(rest[:4])
				i += 4
			case strings.HasPrefix(rest, "(?:") || strings.HasPrefix(rest, "(?=") || strings.HasPrefix(rest, "(?!"):
				out.WriteString(rest[:3])
				i += 3
			case strings.HasPrefix(rest, "(?"):
				// Named groups pass through; other inline options are not supported.
				if strings.HasPrefix(rest, "(?<") || strings.HasPrefix(rest, "(?P<") {
					out.WriteString("(")
					i++
				} else {
					return "", fmt.Errorf("group %q... is not supported", rest)
				}
			default:
				out.WriteString("(")
				i++
			}
			lastQuant = false
		case ')':
			if len(stack) == 0 {
				return "", fmt.Errorf("unbalanced )")
			}
			out.WriteString(")")
			g := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			atomStart, fold = g.atomStart, g.fold
			lastQuant = false
			i++
		case '|':
			out.WriteString("|")
			atomStart = -1
			lastQuant = false
			i++
		case '{':
			end, lo, hi, ok := quantifier(rs, i)
			if !ok || atomStart < 0 {
				emitAtom(`\{`)
				i++
				continue
			}
			body := lo + "," + hi
			if hi == lo+"!" {
				body = lo
			}
			i = end
			if i < len(rs) && (rs[i] == '+' || rs[i] == '*') {
				// Ruby syntax: a{n,m}+ is (a{n,m})+, not possessive.
				s := out.String()
				out.Reset()
				out.WriteString(s[:atomStart] + "(?:" + s[atomStart:] + "{" + body + "})" + string(rs[i]))
				i++
			} else {
				out.WriteString("{" + body + "}")
			}
			lastQuant = true
		case '}':
			emitAtom(`\}`)
			i++
		case '+':
			if !lastQuant {
				out.WriteString("+")
			}
			lastQuant = true
			i++
		case '*', '?':
			out.WriteRune(c)
			lastQuant = true
			i++
		case ' ', '#':
			emitAtom(`\` + string(c))
			i++
		default:
			if fold && isASCIILetter(c) {
				emitAtom("[" + string(c) + string(otherCase(c)) + "]")
			} else {
				emitAtom(string(c))
			}
			i++
		}
	}
	if len(stack) != 0 {
		return "", fmt.Errorf("unbalanced (")
	}
	return out.String(), nil
}

// braced returns the index after the "}" closing the "{" at rs[i].
func braced(rs []rune, i int) (int, error) {
	if i >= len(rs) || rs[i] != '{' {
		return 0, fmt.Errorf("want { at %d", i)
	}
	for j := i + 1; j < len(rs); j++ {
		if rs[j] == '}' {
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated {")
}

// quantifier parses {n}, {n,}, {n,m} or {,m} at rs[i]. hi is lo+"!" for {n}.
func quantifier(rs []rune, i int) (end int, lo, hi string, ok bool) {
	j := i + 1
	digits := func() string {
		k := j
		for j < len(rs) && rs[j] >= '0' && rs[j] <= '9' {
			j++
		}
		return string(rs[k:j])
	}
	lo = digits()
	if j < len(rs) && rs[j] == '}' {
		if lo == "" {
			return 0, "", "", false
		}
		return j + 1, lo, lo + "!", true
	}
	if j >= len(rs) || rs[j] != ',' {
		return 0, "", "", false
	}
	j++
	hi = digits()
	if j >= len(rs) || rs[j] != '}' || (lo == "" && hi == "") {
		return 0, "", "", false
	}
	if lo == "" {
		lo = "0"
	}
	return j + 1, lo, hi, true
}

// translateClass rewrites the character class starting at rs[i].
func translateClass(rs []rune, i int, fold bool) (string, int, error) {
	j := i + 1
	neg := false
	if j < len(rs) && rs[j] == '^' {
		neg = true
		j++
	}
	var body strings.Builder
	var letters []rune   // ASCII letters, for folding
	var ranges [][2]rune // ASCII letter ranges, for folding
	var prev rune = -1   // last single character, for ranges
	first := true
	for j < len(rs) {
		c := rs[j]
		switch {
		case c == ']' && !first:
			if fold {
				for _, r := range letters {
					body.WriteRune(otherCase(r))
				}
				for _, rg := range ranges {
					body.WriteRune(otherCase(rg[0]))
					body.WriteByte('-')
					body.WriteRune(otherCase(rg[1]))
				}
			}
			if neg {
				return "[^" + body.String() + "]", j + 1, nil
			}
			return "[" + body.String() + "]", j + 1, nil
		case c == '\\':
			if j+1 >= len(rs) {
				return "", 0, fmt.Errorf("unterminated character class")
			}
			n := rs[j+1]
			switch n {
			case 's':
				body.WriteString(whiteSpaceClass)
				j += 2
			case 'h':
				body.WriteString("0-9A-Fa-f")
				j += 2
			case 'S', 'H', 'W':
				return "", 0, fmt.Errorf(`\%c inside a character class is not supported`, n)
			case 'p', 'P':
				end, err := braced(rs, j+2)
				if err != nil {
					return "", 0, err
				}
				body.WriteString(string(rs[j:end]))
				j = end
			case 'x':
				if j+2 < len(rs) && rs[j+2] == '{' {
					end, err := braced(rs, j+2)
					if err != nil {
						return "", 0, err
					}
					v, err := strconv.ParseUint(string(rs[j+3:end-1]), 16, 32)
					if err != nil || v > utf8.MaxRune {
						return "", 0, fmt.Errorf("bad escape %s", string(rs[j:end]))
					}
					body.WriteString(escapeRune(rune(v)))
					if isASCIILetter(rune(v)) {
						letters = append(letters, rune(v))
					}
					prev = rune(v)
					j = end
				} else {
					body.WriteString(`\x`)
					j += 2
				}
				first = false
				continue
			default:
				body.WriteString(`\` + string(n))
				j += 2
			}
			prev = -1
		case c == '[':
			return "", 0, fmt.Errorf("nested character classes are not supported")
		case c == '&' && j+1 < len(rs) && rs[j+1] == '&':
			return "", 0, fmt.Errorf("character class intersection is not supported")
		case c == '-' && prev >= 0 && j+1 < len(rs) && rs[j+1] != ']':
			hi := rs[j+1]
			if hi == '\\' || hi == '[' {
				return "", 0, fmt.Errorf("character class range ending in an escape is not supported")
			}
			body.WriteString("-" + escapeRune(hi))
			if isASCIILetter(prev) && isASCIILetter(hi) && (prev >= 'a') == (hi >= 'a') {
				if n := len(letters); n > 0 && letters[n-1] == prev {
					letters = letters[:n-1]
				}
				ranges = append(ranges, [2]rune{prev, hi})
			}
			prev = -1
			j += 2
		default:
			body.WriteString(escapeRune(c))
			if isASCIILetter(c) {
				letters = append(letters, c)
			}
			prev = c
			j++
		}
		first = false
	}
	return "", 0, fmt.Errorf("unterminated character class")
}
