package chat

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ardanlabs/jinja"
)

// pySpace reports whether Python's str.strip() and str.split() treat r as
// white space (Py_UNICODE_ISSPACE): Go's unicode.IsSpace plus the
// information separators U+001C..U+001F.
func pySpace(r rune) bool {
	switch {
	case r >= '\t' && r <= '\r', r >= 0x1C && r <= ' ', r == 0x85, r == 0xA0, r == 0x1680,
		r >= 0x2000 && r <= 0x200A, r == 0x2028, r == 0x2029, r == 0x202F, r == 0x205F, r == 0x3000:
		return true
	}
	return false
}

// trimFilter is Jinja2's trim(value, chars=None): Python's
// str(value).strip(chars), which strips Python's white space when chars is
// none.
func trimFilter(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.Undefined(), errors.New("trim: no value")
	}
	if len(args) > 2 {
		return jinja.Undefined(), fmt.Errorf("trim: takes at most 1 argument, got %d", len(args)-1)
	}
	chars, hasChars := jinja.None(), false
	if len(args) == 2 {
		chars, hasChars = args[1], true
	}
	for k, v := range kwargs {
		if k != "chars" || hasChars {
			return jinja.Undefined(), fmt.Errorf("trim: unexpected keyword argument %q", k)
		}
		chars, hasChars = v, true
	}
	s := display(args[0])
	if !hasChars || chars.IsNone() || chars.IsUndefined() {
		return jinja.NewString(strings.TrimFunc(s, pySpace)), nil
	}
	return jinja.NewString(strings.Trim(s, display(chars))), nil
}
