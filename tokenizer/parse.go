package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxIDSlack bounds how sparse ids may be: the largest id may exceed the
// number of tokens by at most this much (a guard against a file that would
// make VocabSize absurd).
const maxIDSlack = 1 << 20

func parse(data []byte, path string) (*Tokenizer, error) {
	// A valid file's top level is split by the fast scanner (encoding/json
	// would scan the whole file a second time, 30 MB for Gemma 3); anything
	// else goes through encoding/json for its errors.
	var top map[string]json.RawMessage
	fast := false
	if json.Valid(data) {
		top, fast = splitObjectFast(data)
	}
	if !fast {
		top = nil
		if err := json.Unmarshal(data, &top); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return nil, fmt.Errorf("%s: want a JSON object at the top level: %w", path, err)
			}
			return nil, fmt.Errorf("%s: %w", path, jsonError(data, err, ""))
		}
	}
	if top == nil {
		return nil, fmt.Errorf("%s: want a JSON object at the top level, got null", path)
	}
	if isNull(top["model"]) {
		return nil, fmt.Errorf("%s: model: missing", path)
	}
	t := &Tokenizer{}
	var err error
	if err = t.model.parse(top["model"], "model"); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t.added, err = parseAddedTokens(top["added_tokens"]); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	limit := len(t.model.vocab) + len(t.added) + maxIDSlack
	for i, a := range t.added {
		if a.ID > limit {
			return nil, fmt.Errorf("%s: added_tokens[%d].id = %d: out of range [0, %d]", path, i, a.ID, limit)
		}
	}
	if t.normalizer, err = parseNormalizer(top["normalizer"], "normalizer"); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t.pre, err = parsePipeline(top["pre_tokenizer"]); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t.post, err = parsePostProcessor(top["post_processor"], "post_processor"); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t.dec, err = parseDecoder(top["decoder"], "decoder"); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.raw.normalizer = compactJSON(top["normalizer"])
	t.raw.preTokenizer = compactJSON(top["pre_tokenizer"])
	t.raw.postProcessor = compactJSON(top["post_processor"])
	t.raw.decoder = compactJSON(top["decoder"])
	if err := t.finish(path); err != nil {
		return nil, err
	}
	return t, nil
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	if isNull(raw) {
		return json.RawMessage("null")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return json.RawMessage("null")
	}
	return b.Bytes()
}

func isNull(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) == 0 || string(s) == "null"
}

// jsonError turns an encoding/json error into one naming the field (type
// errors) or the line and column (syntax errors). prefix is the path of the
// value that was decoded.
func jsonError(data []byte, err error, prefix string) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := lineCol(data, se.Offset)
		if prefix != "" {
			return fmt.Errorf("%s: invalid JSON at line %d, column %d: %w", prefix, line, col, err)
		}
		return fmt.Errorf("invalid JSON at line %d, column %d: %w", line, col, err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := joinPath(prefix, te.Field)
		if field == "" {
			field = "(top level)"
		}
		return fmt.Errorf("%s: got JSON %s, want %s: %w", field, te.Value, te.Type, err)
	}
	if prefix != "" {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	return err
}

func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "." + b
}

func lineCol(data []byte, offset int64) (int, int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	line, col := 1, 1
	for _, c := range data[:offset] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// object is a JSON object whose fields are decoded on demand, with errors
// naming path.field.
type object struct {
	path   string
	fields map[string]json.RawMessage
}

func parseObject(raw json.RawMessage, path string) (object, error) {
	o := object{path: path}
	if err := json.Unmarshal(raw, &o.fields); err != nil || o.fields == nil {
		return o, fmt.Errorf("%s: want a JSON object", path)
	}
	return o, nil
}

func (o object) field(key string) string { return o.path + "." + key }

// has reports whether key is present and not null.
func (o object) has(key string) bool { return !isNull(o.fields[key]) }

func (o object) str(key, def string) (string, error) {
	raw := o.fields[key]
	if isNull(raw) {
		return def, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s: want a string", o.field(key))
	}
	return s, nil
}

// optStr returns nil for a missing or null key.
func (o object) optStr(key string) (*string, error) {
	if !o.has(key) {
		return nil, nil
	}
	s, err := o.str(key, "")
	return &s, err
}

func (o object) boolean(key string, def bool) (bool, error) {
	raw := o.fields[key]
	if isNull(raw) {
		return def, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, fmt.Errorf("%s: want true or false", o.field(key))
	}
	return b, nil
}

func (o object) integer(key string, def int) (int, error) {
	raw := o.fields[key]
	if isNull(raw) {
		return def, nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("%s: want an integer", o.field(key))
	}
	return n, nil
}

func (o object) list(key string) ([]json.RawMessage, error) {
	raw := o.fields[key]
	if isNull(raw) {
		return nil, nil
	}
	var l []json.RawMessage
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("%s: want a list", o.field(key))
	}
	return l, nil
}

func (o object) typ() (string, error) {
	s, err := o.str("type", "")
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", fmt.Errorf("%s.type: missing", o.path)
	}
	return s, nil
}

func unsupported(path, typ string) error {
	return fmt.Errorf("%s.type = %q %w", path, typ, ErrUnsupported)
}

func parseAddedTokens(raw json.RawMessage) ([]AddedToken, error) {
	if isNull(raw) {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("added_tokens: want a list")
	}
	out := make([]AddedToken, 0, len(items))
	for i, item := range items {
		path := "added_tokens[" + strconv.Itoa(i) + "]"
		o, err := parseObject(item, path)
		if err != nil {
			return nil, err
		}
		var a AddedToken
		if !o.has("id") {
			return nil, fmt.Errorf("%s.id: missing", path)
		}
		if a.ID, err = o.integer("id", 0); err != nil {
			return nil, err
		}
		if a.ID < 0 {
			return nil, fmt.Errorf("%s.id: negative (%d)", path, a.ID)
		}
		if a.Content, err = o.str("content", ""); err != nil {
			return nil, err
		}
		if a.Content == "" {
			return nil, fmt.Errorf("%s.content: empty", path)
		}
		if a.Special, err = o.boolean("special", false); err != nil {
			return nil, err
		}
		if a.SingleWord, err = o.boolean("single_word", false); err != nil {
			return nil, err
		}
		if a.LStrip, err = o.boolean("lstrip", false); err != nil {
			return nil, err
		}
		if a.RStrip, err = o.boolean("rstrip", false); err != nil {
			return nil, err
		}
		if a.Normalized, err = o.boolean("normalized", !a.Special); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// parseMerges reads model.merges in either form: "a b" strings (older files)
// or ["a", "b"] pairs.
func parseMerges(raw json.RawMessage, path string) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	s := bytes.TrimSpace(raw)
	if len(s) == 0 || s[0] != '[' {
		return nil, fmt.Errorf("%s: want a list", path)
	}
	if out, ok := scanMergesFast(raw); ok {
		return out, nil
	}
	rest := bytes.TrimSpace(s[1:])
	if len(rest) > 0 && rest[0] == '"' {
		var lines []string
		if err := json.Unmarshal(raw, &lines); err != nil {
			return nil, jsonError(raw, err, path)
		}
		out := make([][2]string, len(lines))
		for i, line := range lines {
			a, b, ok := strings.Cut(line, " ")
			if !ok || strings.Contains(b, " ") || a == "" || b == "" {
				return nil, fmt.Errorf("%s[%d] = %q: want two tokens separated by one space", path, i, line)
			}
			out[i] = [2]string{a, b}
		}
		return out, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("%s: want a list of \"a b\" strings or [a, b] pairs", path)
	}
	out := make([][2]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 || p[0] == "" || p[1] == "" {
			return nil, fmt.Errorf("%s[%d]: want a pair of two non-empty tokens", path, i)
		}
		out[i] = [2]string{p[0], p[1]}
	}
	return out, nil
}

// component reads a pipeline component (normalizer, pre-tokenizer, post-
// processor, decoder): null is no component (ok false); otherwise the
// object and its "type".
func component(raw json.RawMessage, path string) (o object, typ string, ok bool, err error) {
	if isNull(raw) {
		return object{}, "", false, nil
	}
	if o, err = parseObject(raw, path); err != nil {
		return object{}, "", false, err
	}
	if typ, err = o.typ(); err != nil {
		return object{}, "", false, err
	}
	return o, typ, true, nil
}

// sequence parses the list o[key] of a "Sequence" component, each item
// with parse, and concatenates the steps.
func sequence[T any](o object, key string, parse func(json.RawMessage, string) ([]T, error)) ([]T, error) {
	items, err := o.list(key)
	if err != nil {
		return nil, err
	}
	out := []T{}
	for i, item := range items {
		steps, err := parse(item, o.field(key)+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		out = append(out, steps...)
	}
	return out, nil
}
