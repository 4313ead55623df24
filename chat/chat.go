package chat

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ardanlabs/jinja"
)

// Default is the ChatML template used when a tokenizer has no
// chat_template: each message as "<|im_start|>role\ncontent<|im_end|>\n",
// then "<|im_start|>assistant\n" when a generation prompt is asked for. It is
// the template transformers used as its default_chat_template.
const Default = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

// Message is one turn of a conversation. Templates see it as a dict with
// the keys role and content.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Options are the template variables besides the messages.
type Options struct {
	// AddGenerationPrompt asks the template to end with the start of an
	// assistant turn (add_generation_prompt).
	AddGenerationPrompt bool
	// BOSToken and EOSToken are exposed as bos_token and eos_token.
	BOSToken, EOSToken string
	// Extra holds further template variables, such as tools, documents,
	// date_string or enable_thinking. They are set after the others, so
	// they may replace bos_token, eos_token, tools (none by default),
	// documents (none by default), raise_exception and strftime_now, but
	// not messages or add_generation_prompt. Values are converted as
	// described in the package documentation; give a json.RawMessage to
	// keep the key order of JSON objects, which tojson reproduces.
	Extra map[string]any
}

// Template is a parsed chat template. It is safe for concurrent use.
type Template struct {
	source string
	tmpl   *jinja.Template
}

// ParseError is a malformed template. Line and Column are 1-based; either is
// 0 when it is not known.
type ParseError struct {
	Line, Column int
	Msg          string
	Err          error // the jinja library's error
}

func (e *ParseError) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("chat template: line %d, column %d: %s", e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("chat template: line %d: %s", e.Line, e.Msg)
	}
	return "chat template: " + e.Msg
}

func (e *ParseError) Unwrap() error { return e.Err }

// RaiseError is a template calling raise_exception(message), which is how
// chat templates reject conversations they cannot format (a system message
// the model does not support, roles out of order, …).
type RaiseError struct {
	Message string
}

func (e *RaiseError) Error() string { return "chat template raised an exception: " + e.Message }

var (
	scanErrRE  = regexp.MustCompile(`^unclosed (\w+) tag at line (\d+), col (\d+)$`)
	lineErrRE  = regexp.MustCompile(`^line (\d+): (.*)$`)
	blockErrRE = regexp.MustCompile(`^unclosed (\w+) block$`)

	tokenKindRE = regexp.MustCompile(` \(kind=\d+\)`)
)

// tidyMessage rewords the jinja library's parse messages for people: no
// token kind numbers, no filter aliases.
func tidyMessage(msg string) string {
	msg = tokenKindRE.ReplaceAllString(msg, "")
	msg = strings.ReplaceAll(msg, `unexpected token ""`, "unexpected end of expression")
	for _, f := range filterAliases {
		msg = strings.ReplaceAll(msg, f.alias, f.name)
	}
	return msg
}

// Parse parses a chat template, the Jinja source found in a
// tokenizer_config.json's "chat_template". A malformed template gives a
// *ParseError naming the line (and the column where it is known).
func Parse(source string) (t *Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, &ParseError{Msg: fmt.Sprintf("the jinja library failed: %v", r)}
		}
	}()
	tmpl, err := jinja.Compile(rewriteFilters(source))
	if err != nil {
		return nil, parseError(source, err)
	}
	return &Template{source: source, tmpl: tmpl}, nil
}

// parseError turns the jinja library's compile error into a *ParseError with
// the best position the source gives.
func parseError(source string, err error) *ParseError {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "jinja scan: ")
	msg = strings.TrimPrefix(msg, "jinja parse: ")
	pe := &ParseError{Msg: tidyMessage(msg), Err: err}
	if m := scanErrRE.FindStringSubmatch(msg); m != nil {
		pe.Line, _ = strconv.Atoi(m[2])
		byteCol, _ := strconv.Atoi(m[3])
		pe.Column = charColumn(source, pe.Line, byteCol)
		pe.Msg = m[1] + " tag is never closed"
		return pe
	}
	if m := lineErrRE.FindStringSubmatch(msg); m != nil {
		pe.Line, _ = strconv.Atoi(m[1])
		pe.Msg = tidyMessage(m[2])
		pe.Column = failingTagColumn(source, pe.Line, msg)
		return pe
	}
	if m := blockErrRE.FindStringSubmatch(msg); m != nil {
		if t, ok := unclosedBlock(source, m[1]); ok {
			pe.Line, pe.Column = t.line, t.col
			pe.Msg = fmt.Sprintf("%q block is never closed", m[1])
		}
	}
	return pe
}

// failingTagColumn finds which tag on a line the jinja library's error msg
// is about, which the library does not say: the first tag on the line such
// that the source cut just after it fails with the same message (the parser
// stops at the first bad tag, so a binary search finds it). It returns the
// tag's column, or 0.
func failingTagColumn(source string, line int, msg string) int {
	on := tagsOnLine(source, line)
	if len(on) == 1 {
		return on[0].col
	}
	k := sort.Search(len(on), func(k int) bool {
		_, err := jinja.Compile(rewriteFilters(source[:on[k].end]))
		return err != nil && strings.TrimPrefix(strings.TrimPrefix(err.Error(), "jinja scan: "), "jinja parse: ") == msg
	})
	if k == len(on) {
		return 0
	}
	return on[k].col
}

// charColumn converts a 1-based byte column on a 1-based line of src to a
// 1-based character column.
func charColumn(src string, line, byteCol int) int {
	start := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(src[start:], '\n')
		if i < 0 {
			return byteCol
		}
		start += i + 1
	}
	end := min(start+byteCol-1, len(src))
	if end < start {
		return byteCol
	}
	return utf8.RuneCountInString(src[start:end]) + 1
}

// Source returns the template's source as given to Parse.
func (t *Template) Source() string { return t.source }

// IsRenderVar reports whether Render sets the template variable name from
// its own arguments (messages, add_generation_prompt), so that
// Options.Extra may not.
func IsRenderVar(name string) bool { return name == "messages" || name == "add_generation_prompt" }

// Render renders the conversation as transformers' apply_chat_template does
// with tokenize=False. The template sees messages, add_generation_prompt,
// bos_token, eos_token, tools=none and documents=none, the functions
// raise_exception and strftime_now, then opts.Extra. A template that calls
// raise_exception gives a *RaiseError; other failures of the template give
// errors that begin "chat template: ".
func (t *Template) Render(messages []Message, opts Options) (out string, err error) {
	if t == nil || t.tmpl == nil {
		return "", errors.New("chat: Render on a nil Template")
	}
	var raised *RaiseError
	vars := map[string]jinja.Value{
		"messages":              messagesValue(messages),
		"add_generation_prompt": jinja.NewBool(opts.AddGenerationPrompt),
		"bos_token":             jinja.NewString(opts.BOSToken),
		"eos_token":             jinja.NewString(opts.EOSToken),
		"tools":                 jinja.None(),
		"documents":             jinja.None(),
		"raise_exception": jinja.NewCallable("raise_exception", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			msg := ""
			if len(args) > 0 {
				msg = display(args[0])
			}
			raised = &RaiseError{Message: msg}
			return jinja.Undefined(), raised
		}),
		"strftime_now": jinja.NewCallable("strftime_now", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			if len(args) != 1 || !args[0].IsString() {
				return jinja.Undefined(), errors.New("strftime_now takes one format string")
			}
			return jinja.NewString(strftime(now(), args[0].AsString())), nil
		}),
	}
	for name, x := range opts.Extra {
		if IsRenderVar(name) {
			return "", fmt.Errorf("chat: Options.Extra[%q]: set by Render itself", name)
		}
		v, err := toValue(x)
		if err != nil {
			return "", fmt.Errorf("chat: Options.Extra[%q]: %w", name, err)
		}
		vars[name] = v
	}
	vars[tojsonAlias] = jinja.NewCallable("tojson", tojsonFilter)
	vars[trimAlias] = jinja.NewCallable("trim", trimFilter)

	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("chat template: the jinja library failed: %v", r)
		}
	}()
	out, err = t.tmpl.RenderValues(vars)
	if err != nil {
		if raised != nil {
			return "", raised
		}
		return "", fmt.Errorf("chat template: %w", err)
	}
	return out, nil
}

// display is how a value prints in a template: strings as they are.
func display(v jinja.Value) string {
	if v.IsString() {
		return v.AsString()
	}
	return v.String()
}
