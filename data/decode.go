package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// kindNames names the record kinds, as Stats.Format gives them;
// decoder.record returns an index into it.
var kindNames = []string{"text", "prompt/completion", "messages", "input_ids"}

// shapeNames names the record kinds by their fields, for messages.
var shapeNames = []string{`"text"`, `"prompt"/"completion"`, `"messages"`, `"input_ids"`}

// ReadJSONL reads the JSONL dataset at path; see Decode. Errors name the
// path as given.
func ReadJSONL(path string, opts Options) ([]Example, Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	return Decode(f, path, opts)
}

// Decode reads a JSONL dataset from r, one example per record, in file
// order. name is the file name used in errors ("name:line: ...").
//
// With Options.AssistantOnly, a "messages" record is rendered once whole
// and then, for each assistant message i, twice more: messages[:i+1] with
// the content of message i replaced by a marker, which tells where the
// template puts the content and what end-of-turn text follows it, and
// messages[:i+1] itself, which must be a prefix of the whole rendering. The
// whole text is then tokenized piece by piece, split where the loss starts
// and stops, so the mask falls exactly on the turn boundaries (at those
// boundaries the ids may differ from tokenizing the whole text in one go,
// when a merge would span one; the text they spell is the same). A
// template that rewrites earlier turns as the conversation grows (one that
// drops earlier reasoning, say) is reported as an error rather than masked
// wrongly.
//
// Every record of a file has the same shape (one of the four formats):
// a record of another shape than the first is an error, which names the
// line of the first.
//
// Decode fails on the first bad record, and on input with no records.
func Decode(r io.Reader, name string, opts Options) ([]Example, Stats, error) {
	d := decoder{name: name, opts: opts}
	br := bufio.NewReaderSize(r, 64<<10)
	var examples []Example
	line := 0
	for {
		b, readErr := br.ReadBytes('\n')
		if len(b) > 0 {
			line++
			ex, ok, err := d.line(b, line)
			if err != nil {
				return nil, Stats{}, fmt.Errorf("%s:%d: %w", name, line, err)
			}
			if ok {
				examples = append(examples, ex)
			}
		}
		if readErr == io.EOF {
			break
		}
		if readErr != nil {
			return nil, Stats{}, fmt.Errorf("%s:%d: reading: %w", name, line+1, readErr)
		}
	}
	if len(examples) == 0 {
		if line == 0 {
			return nil, Stats{}, fmt.Errorf("%s: no records (the file is empty)", name)
		}
		return nil, Stats{}, fmt.Errorf("%s:%d: no records (all %d lines are blank)", name, line, line)
	}
	d.stats.Format = kindNames[d.kind]
	return examples, d.stats, nil
}

type decoder struct {
	name  string
	opts  Options
	stats Stats
	// kind is the shape of the file's records (an index into kindNames),
	// set by the first record, on line kindLine (0: no record yet).
	kind, kindLine int
}

var bom = []byte("\xEF\xBB\xBF")

// line turns one line into an example; ok is false for a blank line.
func (d *decoder) line(b []byte, n int) (ex Example, ok bool, err error) {
	if n == 1 {
		b = bytes.TrimPrefix(b, bom)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(bytes.TrimSpace(b)) == 0 {
		return Example{}, false, nil
	}
	if !utf8.Valid(b) {
		at := 0
		for at < len(b) {
			r, size := utf8.DecodeRune(b[at:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			at += size
		}
		return Example{}, false, fmt.Errorf("not valid UTF-8 (byte %d of the line)", at+1)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return Example{}, false, fmt.Errorf("not JSON (byte %d of the line): %w", syn.Offset, err)
		}
		return Example{}, false, fmt.Errorf("record is %s, not a JSON object", kindOf(b))
	}
	if obj == nil {
		return Example{}, false, errors.New("record is null, not a JSON object")
	}
	ids, labels, kind, err := d.record(obj, n)
	if err != nil {
		return Example{}, false, err
	}
	if len(ids) == 0 {
		return Example{}, false, fmt.Errorf("%s record encodes to no tokens", kindNames[kind])
	}
	if limit := d.opts.MaxSeqLength; limit > 0 && len(ids) > limit {
		ids, labels = ids[:limit:limit], labels[:limit:limit]
		d.stats.Truncated++
	}
	d.stats.Records++
	d.stats.Tokens += len(ids)
	d.stats.LossTokens += lossTokens(labels)
	return Example{InputIDs: ids, Labels: labels}, true, nil
}

// lossTokens counts the labels that are next-token targets: those after the
// first that are not IgnoreIndex.
func lossTokens(labels []int) int {
	n := 0
	for t := 1; t < len(labels); t++ {
		if labels[t] != IgnoreIndex {
			n++
		}
	}
	return n
}

// present reports whether key is in obj with a value other than null.
func present(obj map[string]json.RawMessage, key string) bool {
	v, ok := obj[key]
	return ok && kindOf(v) != "null"
}

// record dispatches on the record's format, that of line n; kind is the
// index into kindNames.
func (d *decoder) record(obj map[string]json.RawMessage, n int) (ids, labels []int, kind int, err error) {
	var found []string
	for _, k := range []string{"text", "prompt", "completion", "messages", "input_ids"} {
		if present(obj, k) {
			found = append(found, k)
		}
	}
	formats := 0
	for _, k := range found {
		if k != "completion" || !present(obj, "prompt") {
			formats++
		}
	}
	switch {
	case len(found) == 0:
		msg := `record has neither "text", "prompt"/"completion", "messages" nor "input_ids"`
		var nulls []string
		for _, k := range []string{"text", "prompt", "completion", "messages", "input_ids"} {
			if _, ok := obj[k]; ok {
				nulls = append(nulls, strconv.Quote(k))
			}
		}
		if len(nulls) > 0 {
			msg += " (" + strings.Join(nulls, ", ") + " null)"
		}
		return nil, nil, 0, errors.New(msg)
	case formats > 1:
		q := make([]string, len(found))
		for i, k := range found {
			q[i] = strconv.Quote(k)
		}
		return nil, nil, 0, fmt.Errorf("record mixes formats (%s); use one per record", strings.Join(q, ", "))
	}
	switch found[0] {
	case "text":
		kind = 0
	case "prompt", "completion":
		kind = 1
	case "messages":
		kind = 2
	default:
		kind = 3
	}
	if d.kindLine == 0 {
		d.kind, d.kindLine = kind, n
	} else if kind != d.kind {
		return nil, nil, kind, fmt.Errorf("record is %s but line %d was %s; a file holds one record shape", shapeNames[kind], d.kindLine, shapeNames[d.kind])
	}
	switch kind {
	case 0:
		ids, labels, err = d.text(obj)
	case 1:
		ids, labels, err = d.promptCompletion(obj)
	case 2:
		ids, labels, err = d.messages(obj)
	default:
		ids, labels, err = d.inputIDs(obj)
	}
	return ids, labels, kind, err
}

// needTokenizer refuses a record of the given kind when there is no
// tokenizer to encode it.
func (d *decoder) needTokenizer(kind int) error {
	if d.opts.Tokenizer == nil {
		return fmt.Errorf(`%s records cannot be tokenized: there is no tokenizer (the model directory has no tokenizer.json); use "input_ids" records, or add the model's tokenizer.json`, shapeNames[kind])
	}
	return nil
}

// eos returns [EOS], or nothing when the tokenizer has none.
func (d *decoder) eos() []int {
	if id, ok := d.opts.Tokenizer.EOS(); ok {
		return []int{id}
	}
	return nil
}

func (d *decoder) text(obj map[string]json.RawMessage) (ids, labels []int, err error) {
	text, err := stringField(obj, "text")
	if err != nil {
		return nil, nil, err
	}
	if err := d.needTokenizer(0); err != nil {
		return nil, nil, err
	}
	ids = append(d.opts.Tokenizer.EncodeSpecial(text), d.eos()...)
	if err := d.checkTokenized(ids, "text"); err != nil {
		return nil, nil, err
	}
	return ids, append([]int(nil), ids...), nil
}

func (d *decoder) promptCompletion(obj map[string]json.RawMessage) (ids, labels []int, err error) {
	if !present(obj, "completion") {
		return nil, nil, errors.New(`"prompt" without "completion"`)
	}
	if !present(obj, "prompt") {
		return nil, nil, errors.New(`"completion" without "prompt"`)
	}
	prompt, err := stringField(obj, "prompt")
	if err != nil {
		return nil, nil, conversationalHint(obj, "prompt", err)
	}
	completion, err := stringField(obj, "completion")
	if err != nil {
		return nil, nil, conversationalHint(obj, "completion", err)
	}
	if err := d.needTokenizer(1); err != nil {
		return nil, nil, err
	}
	p := d.opts.Tokenizer.EncodeSpecial(prompt)
	c := append(d.opts.Tokenizer.Encode(completion), d.eos()...)
	if err := d.checkTokenized(p, "prompt"); err != nil {
		return nil, nil, err
	}
	if err := d.checkTokenized(c, "completion"); err != nil {
		return nil, nil, err
	}
	ids = make([]int, 0, len(p)+len(c))
	ids = append(append(ids, p...), c...)
	labels = make([]int, len(ids))
	for i := range p {
		labels[i] = IgnoreIndex
	}
	copy(labels[len(p):], c)
	return ids, labels, nil
}

// conversationalHint explains that TRL's conversational prompt/completion
// (lists of messages) is not a supported form.
func conversationalHint(obj map[string]json.RawMessage, field string, err error) error {
	if kindOf(obj[field]) == "an array" {
		return fmt.Errorf(`%w (conversational prompt/completion is not supported; use "messages" with AssistantOnly)`, err)
	}
	return err
}

func (d *decoder) messages(obj map[string]json.RawMessage) (ids, labels []int, err error) {
	raw := obj["messages"]
	if k := kindOf(raw); k != "an array" {
		return nil, nil, fmt.Errorf(`"messages" is %s, want an array of {"role", "content"} objects`, k)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, nil, fmt.Errorf(`"messages": %w`, err)
	}
	if len(elems) == 0 {
		return nil, nil, errors.New(`"messages" is empty`)
	}
	msgs := make([]Message, len(elems))
	for i, e := range elems {
		field := fmt.Sprintf(`"messages"[%d]`, i)
		if k := kindOf(e); k != "an object" {
			return nil, nil, fmt.Errorf(`%s is %s, want a {"role", "content"} object`, field, k)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(e, &m); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", field, err)
		}
		for _, key := range []string{"role", "content"} {
			if !present(m, key) {
				return nil, nil, fmt.Errorf("%s has no %q", field, key)
			}
		}
		role, err := stringFieldNamed(m, "role", field+".role")
		if err != nil {
			return nil, nil, err
		}
		content, err := stringFieldNamed(m, "content", field+".content")
		if err != nil {
			return nil, nil, err
		}
		msgs[i] = Message{Role: role, Content: content}
	}
	if err := d.needTokenizer(2); err != nil {
		return nil, nil, err
	}
	if d.opts.Chat == nil {
		return nil, nil, errors.New(`"messages" needs a chat renderer for the model's chat template, and there is none`)
	}
	ids, labels, err = d.chat(msgs)
	if err != nil {
		return nil, nil, err
	}
	if err := d.checkTokenized(ids, "messages"); err != nil {
		return nil, nil, err
	}
	return ids, labels, nil
}

func (d *decoder) inputIDs(obj map[string]json.RawMessage) (ids, labels []int, err error) {
	ids, err = intArray(obj["input_ids"], "input_ids")
	if err != nil {
		return nil, nil, err
	}
	if len(ids) == 0 {
		return nil, nil, errors.New(`"input_ids" is empty`)
	}
	for i, id := range ids {
		if id < 0 {
			return nil, nil, fmt.Errorf(`"input_ids"[%d] = %d is negative`, i, id)
		}
		if v := d.opts.VocabSize; v > 0 && id >= v {
			return nil, nil, fmt.Errorf(`"input_ids"[%d] = %d is ≥ the vocabulary size %d`, i, id, v)
		}
	}
	if !present(obj, "labels") {
		return ids, append([]int(nil), ids...), nil
	}
	labels, err = intArray(obj["labels"], "labels")
	if err != nil {
		return nil, nil, err
	}
	if len(labels) != len(ids) {
		return nil, nil, fmt.Errorf(`"labels" has %d entries but "input_ids" has %d`, len(labels), len(ids))
	}
	for i, l := range labels {
		if l == IgnoreIndex {
			continue
		}
		if l < 0 {
			return nil, nil, fmt.Errorf(`"labels"[%d] = %d: want a token id or %d (no loss)`, i, l, IgnoreIndex)
		}
		if v := d.opts.VocabSize; v > 0 && l >= v {
			return nil, nil, fmt.Errorf(`"labels"[%d] = %d is ≥ the vocabulary size %d`, i, l, v)
		}
	}
	return ids, labels, nil
}

// checkTokenized checks ids a tokenizer produced for field.
func (d *decoder) checkTokenized(ids []int, field string) error {
	for _, id := range ids {
		if id < 0 {
			return fmt.Errorf("%q: the tokenizer produced a negative id %d", field, id)
		}
		if d.opts.VocabSize > 0 && id >= d.opts.VocabSize {
			return fmt.Errorf("%q: the tokenizer produced id %d, ≥ the vocabulary size %d", field, id, d.opts.VocabSize)
		}
	}
	return nil
}

// kindOf names the JSON type of a value by its first byte.
func kindOf(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

func stringField(obj map[string]json.RawMessage, key string) (string, error) {
	return stringFieldNamed(obj, key, strconv.Quote(key))
}

// stringFieldNamed decodes obj[key] as a string; field is how errors name it.
func stringFieldNamed(obj map[string]json.RawMessage, key, field string) (string, error) {
	raw := obj[key]
	if k := kindOf(raw); k != "a string" {
		return "", fmt.Errorf("%s is %s, want a string", field, k)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return s, nil
}

// intArray decodes raw as an array of integers; key names it in errors.
func intArray(raw json.RawMessage, key string) ([]int, error) {
	if k := kindOf(raw); k != "an array" {
		return nil, fmt.Errorf("%q is %s, want an array of integers", key, k)
	}
	if out, ok := plainIntArray(raw); ok {
		return out, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, fmt.Errorf("%q: %w", key, err)
	}
	out := make([]int, len(elems))
	for i, e := range elems {
		if k := kindOf(e); k != "a number" {
			return nil, fmt.Errorf("%q[%d] is %s, want an integer", key, i, k)
		}
		s := string(bytes.TrimSpace(e))
		n, err := strconv.Atoi(s)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return nil, fmt.Errorf("%q[%d] = %s is out of range", key, i, s)
			}
			return nil, fmt.Errorf("%q[%d] = %s is not an integer", key, i, s)
		}
		out[i] = n
	}
	return out, nil
}

// plainIntArray parses raw, already valid JSON, when it is an array of
// integer literals that surely fit an int, the common case, several times
// faster than encoding/json; ok is false for anything else, which intArray
// then decodes (and explains) the slow way.
func plainIntArray(raw []byte) (out []int, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return nil, false
	}
	i = skipSpace(raw, i+1)
	out = make([]int, 0, len(raw)/4)
	if i < len(raw) && raw[i] == ']' {
		return out, skipSpace(raw, i+1) == len(raw)
	}
	for {
		neg := i < len(raw) && raw[i] == '-'
		if neg {
			i++
		}
		start := i
		v := 0
		for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
			v = v*10 + int(raw[i]-'0')
			i++
		}
		if digits := i - start; digits == 0 || digits > maxPlainDigits || (digits > 1 && raw[start] == '0') {
			return nil, false
		}
		if neg {
			v = -v
		}
		out = append(out, v)
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return nil, false
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case ']':
			return out, skipSpace(raw, i+1) == len(raw)
		default:
			return nil, false
		}
	}
}

// maxPlainDigits is the most digits plainIntArray parses: any number of
// them fits an int.
const maxPlainDigits = strconv.IntSize*3/10 - 1 // 18 for 64-bit, 8 for 32-bit

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
