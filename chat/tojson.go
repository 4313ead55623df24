package chat

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/ardanlabs/jinja"
)

// tojsonFilter is the tojson filter transformers installs for chat
// templates:
//
//	def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
//	    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
//
// so its output is Python's json.dumps: ", " and ": " separators (","
// between items when indenting), non-ASCII text as is, "<", ">" and "&"
// unescaped, floats as Python's repr.
func tojsonFilter(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.Undefined(), errors.New("tojson: no value")
	}
	params := []string{"ensure_ascii", "indent", "separators", "sort_keys"}
	if len(args)-1 > len(params) {
		return jinja.Undefined(), fmt.Errorf("tojson: takes at most %d arguments, got %d", len(params), len(args)-1)
	}
	opt := map[string]jinja.Value{}
	for i, a := range args[1:] {
		opt[params[i]] = a
	}
	for k, v := range kwargs {
		known := false
		for _, p := range params {
			known = known || p == k
		}
		if !known {
			return jinja.Undefined(), fmt.Errorf("tojson: unexpected argument %q", k)
		}
		if _, dup := opt[k]; dup {
			return jinja.Undefined(), fmt.Errorf("tojson: argument %q given twice", k)
		}
		opt[k] = v
	}

	e := jsonEncoder{itemSep: ", ", keySep: ": "}
	if v, ok := opt["ensure_ascii"]; ok {
		e.ensureASCII = v.IsTruthy()
	}
	if v, ok := opt["sort_keys"]; ok {
		e.sortKeys = v.IsTruthy()
	}
	if v, ok := opt["indent"]; ok && !v.IsNone() && !v.IsUndefined() {
		switch {
		case v.IsString():
			e.indent = v.AsString()
		case v.IsInt():
			e.indent = strings.Repeat(" ", int(max(0, min(v.AsInt(), 1024))))
		case v.IsBool():
			// Python's bool is an int: True indents by one space.
			if v.AsBool() {
				e.indent = " "
			}
		default:
			return jinja.Undefined(), fmt.Errorf("tojson: indent must be an integer or a string, not %s", v)
		}
		e.indented = true
		e.itemSep = ","
	}
	if v, ok := opt["separators"]; ok && !v.IsNone() && !v.IsUndefined() {
		if !v.IsList() || v.AsList().Len() != 2 || !v.AsList().Items[0].IsString() || !v.AsList().Items[1].IsString() {
			return jinja.Undefined(), fmt.Errorf("tojson: separators must be two strings, not %s", v)
		}
		e.itemSep = v.AsList().Items[0].AsString()
		e.keySep = v.AsList().Items[1].AsString()
	}
	if err := e.encode(args[0], 0); err != nil {
		return jinja.Undefined(), fmt.Errorf("tojson: %w", err)
	}
	return jinja.NewString(e.b.String()), nil
}

type jsonEncoder struct {
	b               strings.Builder
	ensureASCII     bool
	sortKeys        bool
	indented        bool
	indent          string
	itemSep, keySep string
}

func (e *jsonEncoder) newline(depth int) {
	if e.indented {
		e.b.WriteByte('\n')
		for range depth {
			e.b.WriteString(e.indent)
		}
	}
}

func (e *jsonEncoder) encode(v jinja.Value, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested more than %d levels", maxDepth)
	}
	switch {
	case v.IsNone():
		e.b.WriteString("null")
	case v.IsBool():
		e.b.WriteString(strconv.FormatBool(v.AsBool()))
	case v.IsInt():
		e.b.WriteString(strconv.FormatInt(v.AsInt(), 10))
	case v.IsFloat():
		e.b.WriteString(pythonFloat(v.AsFloat(), true))
	case v.IsString():
		e.str(v.AsString())
	case v.IsList():
		items := v.AsList().Items
		if len(items) == 0 {
			e.b.WriteString("[]")
			return nil
		}
		e.b.WriteByte('[')
		for i, item := range items {
			if i > 0 {
				e.b.WriteString(e.itemSep)
			}
			e.newline(depth + 1)
			if err := e.encode(item, depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		e.b.WriteByte(']')
	case v.IsDict():
		d := v.AsDict()
		keys := d.OrderedKeys()
		if len(keys) == 0 {
			e.b.WriteString("{}")
			return nil
		}
		if e.sortKeys {
			sort.Strings(keys)
		}
		e.b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				e.b.WriteString(e.itemSep)
			}
			e.newline(depth + 1)
			e.str(k)
			e.b.WriteString(e.keySep)
			item, _ := d.Get(k)
			if err := e.encode(item, depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		e.b.WriteByte('}')
	case v.IsUndefined():
		return errors.New("Object of type Undefined is not JSON serializable")
	default:
		return errors.New("Object of type function is not JSON serializable")
	}
	return nil
}

// str writes s as Python's json module does: \" \\ \n \r \t \b \f, other
// control characters as \u00XX, and with ensure_ascii everything outside
// printable ASCII as \uXXXX (UTF-16 surrogate pairs above U+FFFF). Bytes that
// are not UTF-8 are written as U+FFFD.
func (e *jsonEncoder) str(s string) {
	const hex = "0123456789abcdef"
	u4 := func(r rune) {
		e.b.WriteString(`\u`)
		e.b.WriteByte(hex[r>>12&0xf])
		e.b.WriteByte(hex[r>>8&0xf])
		e.b.WriteByte(hex[r>>4&0xf])
		e.b.WriteByte(hex[r&0xf])
	}
	e.b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			e.b.WriteString(`\"`)
		case '\\':
			e.b.WriteString(`\\`)
		case '\n':
			e.b.WriteString(`\n`)
		case '\r':
			e.b.WriteString(`\r`)
		case '\t':
			e.b.WriteString(`\t`)
		case '\b':
			e.b.WriteString(`\b`)
		case '\f':
			e.b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20:
				u4(r)
			case !e.ensureASCII || r < 0x7f:
				e.b.WriteRune(r) // RuneError for bad bytes writes U+FFFD
			case r > 0xffff:
				r -= 0x10000
				u4(0xd800 + r>>10)
				u4(0xdc00 + r&0x3ff)
			default:
				u4(r)
			}
		}
	}
	e.b.WriteByte('"')
}

// pythonFloat formats f as Python's repr(float): the shortest digits that
// read back as f, in positional notation for exponents from -4 to 15 (with
// ".0" when integral) and as "1e+16" style otherwise. With forJSON, the
// non-finite values are json.dumps's NaN, Infinity and -Infinity, else
// Python's nan, inf and -inf.
func pythonFloat(f float64, forJSON bool) string {
	switch {
	case math.IsNaN(f):
		if forJSON {
			return "NaN"
		}
		return "nan"
	case math.IsInf(f, 1):
		if forJSON {
			return "Infinity"
		}
		return "inf"
	case math.IsInf(f, -1):
		if forJSON {
			return "-Infinity"
		}
		return "-inf"
	}
	// Shortest round-trip digits and decimal exponent: d.ddde±x.
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	mant, expStr, _ := strings.Cut(sci, "e")
	exp, _ := strconv.Atoi(expStr)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return fmt.Sprintf("%se%s%02d", mant, sign, exp)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}
