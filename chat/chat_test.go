package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		line, col int
		msg       string // a substring of the message
	}{
		{"unclosed expression", "hello {{ name", 1, 7, "expression tag is never closed"},
		{"unclosed expression after multibyte text", "ééé\nàà {{ 'unterminated }}", 2, 4, "expression tag is never closed"},
		{"unclosed comment", "a\n\n{# comment", 3, 1, "comment tag is never closed"},
		{"unclosed statement", "{% if x", 1, 1, "statement tag is never closed"},
		{"unclosed if", "x\n  {% if x %}a", 2, 3, `"if" block is never closed`},
		{"inner for unclosed", "{% for m in messages %}\n  {% for x in m %}{% endfor %}\n{% if x %}{% endif %}", 1, 1, `"for" block is never closed`},
		{"unclosed raw", "{% raw %}{% if %}", 1, 1, `"raw" block is never closed`},
		{"unclosed macro", "{% macro f() %}{{ f() }}", 1, 1, `"macro" block is never closed`},
		{"bad expression", "a\nb {{ 1 + }} c", 2, 3, "unexpected end of expression"},
		{"stray end tag", "{{ x }}\n{% if m %}é{% endfor %}", 2, 12, `unknown statement "endfor"`},
		{"missing filter name", "{{ x | }}", 1, 1, "expected filter name"},
		{"bad attribute", "line1\n  {{ x.( }}", 2, 3, `expected attribute name after '.'`},
		{"bad tojson call", "{{ x | tojson(indent=) }}", 1, 1, "unexpected token"},
		{"two expressions", "{{ a b }}", 1, 1, `unexpected token "b"`},
		{"bad tag mid-line", "{{ a }}{{ b }}{{ c d }}{% if x %}{{ e }}{% endif %}", 1, 15, `unexpected token "d"`},
		{"for without in", "\n\n{% for x %}{% endfor %}", 3, 1, "missing 'in'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := Parse(tt.src)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", tt.src, tmpl)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %T %v, want *ParseError", tt.src, err, err)
			}
			if pe.Line != tt.line || pe.Column != tt.col {
				t.Errorf("Parse(%q) at line %d, column %d, want %d, %d (%v)", tt.src, pe.Line, pe.Column, tt.line, tt.col, err)
			}
			if !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("Parse(%q) message %q, want it to contain %q", tt.src, pe.Msg, tt.msg)
			}
			if want := fmt.Sprintf("line %d", tt.line); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
			if strings.Contains(err.Error(), tojsonAlias) || strings.Contains(err.Error(), "kind=") {
				t.Errorf("error %q leaks the library's internals", err)
			}
			if pe.Unwrap() == nil {
				t.Errorf("ParseError does not wrap the library's error")
			}
		})
	}
}

func mustParse(t testing.TB, src string) *Template {
	t.Helper()
	tmpl, err := Parse(src)
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return tmpl
}

func TestRender(t *testing.T) {
	hi := []Message{{Role: "user", Content: "hi"}}
	tests := []struct {
		name     string
		src      string
		messages []Message
		opts     Options
		want     string
	}{
		{"messages are dicts with role then content", "{{ messages | tojson }}", hi, Options{},
			`[{"role": "user", "content": "hi"}]`},
		{"attribute and item access", "{{ messages[0].role }}={{ messages[-1]['content'] }}", hi, Options{}, "user=hi"},
		{"tokens and generation prompt", "{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}", nil,
			Options{BOSToken: "<s>", EOSToken: "</s>", AddGenerationPrompt: true}, "<s>|</s>|True"},
		{"tools and documents default to none", "{{ tools is none }} {{ documents is none }} {{ tools is defined }}", nil, Options{},
			"True True True"},
		{"extra overrides tokens and tools", "{{ bos_token }}{{ tools | length }}", nil,
			Options{BOSToken: "<s>", Extra: map[string]any{"bos_token": "[B]", "tools": []string{"a", "b"}}}, "[B]2"},
		{"extra map keys are sorted", "{{ m | tojson }}", nil,
			Options{Extra: map[string]any{"m": map[string]int{"b": 2, "a": 1, "c": 3}}}, `{"a": 1, "b": 2, "c": 3}`},
		{"raw JSON keeps its order", "{{ m | tojson }} {{ m.z }}", nil,
			Options{Extra: map[string]any{"m": json.RawMessage(`{"z": 1, "a": [true, null, 1.5, "é"]}`)}}, `{"z": 1, "a": [true, null, 1.5, "é"]} 1`},
		{"structs keep field order and tags", "{{ s | tojson }}", nil,
			Options{Extra: map[string]any{"s": struct {
				Name string `json:"name"`
				Args []int  `json:"arguments"`
				Skip int    `json:"-"`
			}{"f", []int{1, 2}, 7}}}, `{"name": "f", "arguments": [1, 2]}`},
		{"strftime_now reads the clock", "{{ strftime_now('%d %b %Y') }}", nil, Options{}, "05 Mar 2025"},
		{"date_string wins over strftime_now", "{% if date_string is defined %}{{ date_string }}{% else %}{{ strftime_now('%Y') }}{% endif %}", nil,
			Options{Extra: map[string]any{"date_string": "26 Jul 2024"}}, "26 Jul 2024"},
		{"trim_blocks and lstrip_blocks", "{% for m in messages %}\n    {% if m.role == 'user' %}\n[{{ m.content }}]\n    {% endif %}\n{% endfor %}", hi, Options{},
			"[hi]\n"},
		{"loop controls", "{% for i in range(10) %}{% if i == 1 %}{% continue %}{% endif %}{% if i > 3 %}{% break %}{% endif %}{{ i }}{% endfor %}", nil, Options{},
			"023"},
		{"namespace", "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}", hi, Options{}, "1"},
		{"string methods", "{{ ' a b '.strip() }}|{{ 'a,b'.split(',') | length }}|{{ 'abc'.startswith('ab') }}", nil, Options{}, "a b|2|True"},
		{"tojson is never HTML-escaped", "{{ '<a & b>' | tojson }}", nil, Options{}, `"<a & b>"`},
		{"extra cannot displace tojson", "{{ [1] | tojson }}", nil, Options{Extra: map[string]any{tojsonAlias: 1}}, "[1]"},
		{"trim strips Python's white space", "[{{ s | trim }}]", nil, Options{Extra: map[string]any{"s": "\x1c\x1f\u0085\u00a0\u2028\u3000\t x y \v\f\r\n\u205f\x1e"}}, "[x y]"},
		{"trim keeps what Python keeps", "[{{ s | trim }}]", nil, Options{Extra: map[string]any{"s": "\ufeff\u200b x \u180e\ufeff"}}, "[\ufeff\u200b x \u180e\ufeff]"},
		{"trim with chars", "{{ 'xxaxbxx' | trim('x') }}|{{ 'abcab' | trim(chars='ab') }}|{{ ' a ' | trim(none) }}", nil, Options{}, "axb|c|a"},
		{"trim of a number", "{{ 42 | trim }}", nil, Options{}, "42"},
		{"extra cannot displace trim", "{{ ' a ' | trim }}", nil, Options{Extra: map[string]any{trimAlias: 1}}, "a"},
		{"tojson in a macro", "{% macro j(x) %}{{ x | tojson(indent=2) }}{% endmacro %}{{ j([1]) }}", nil, Options{}, "[\n  1\n]"},
		{"raw block is literal", "{% raw %}{{ x | tojson }}{% endraw %}", nil, Options{}, "{{ x | tojson }}"},
		{"content is not evaluated", "{{ messages[0].content }}", []Message{{Role: "user", Content: "{{ 7 * 7 }} {% if %}"}}, Options{},
			"{{ 7 * 7 }} {% if %}"},
	}
	pinClock(t, time.Date(2025, 3, 5, 14, 7, 9, 0, time.UTC))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustParse(t, tt.src).Render(tt.messages, tt.opts)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got != tt.want {
				t.Errorf("Render = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		opts   Options
		raised string // the RaiseError message, or "" for another error
		msg    string // a substring of the error
	}{
		{"raise_exception", "{{ raise_exception('No system messages!') }}", Options{}, "No system messages!", "No system messages!"},
		{"raise_exception in a loop", "{% for m in messages %}{% if loop.index0 == 1 %}{{ raise_exception('second: ' ~ m.role) }}{% endif %}{% endfor %}", Options{},
			"second: assistant", "second: assistant"},
		{"reserved extra: messages", "{{ 1 }}", Options{Extra: map[string]any{"messages": nil}}, "", `Options.Extra["messages"]`},
		{"reserved extra: add_generation_prompt", "{{ 1 }}", Options{Extra: map[string]any{"add_generation_prompt": true}}, "", `Options.Extra["add_generation_prompt"]`},
		{"unconvertible extra", "{{ 1 }}", Options{Extra: map[string]any{"tools": []any{make(chan int)}}}, "", `Options.Extra["tools"]: [0]: cannot give a chan int`},
		{"bad raw JSON", "{{ 1 }}", Options{Extra: map[string]any{"tools": json.RawMessage(`[1,`)}}, "", `Options.Extra["tools"]: JSON`},
		{"tojson of undefined", "{{ nothing | tojson }}", Options{}, "", "not JSON serializable"},
		{"tojson bad indent", "{{ 1 | tojson(indent=[1]) }}", Options{}, "", "indent must be"},
		{"tojson unknown argument", "{{ 1 | tojson(indnet=2) }}", Options{}, "", `unexpected argument "indnet"`},
		{"strftime_now without format", "{{ strftime_now() }}", Options{}, "", "strftime_now takes one format string"},
		{"calling an undefined function", "{{ nope() }}", Options{}, "", "nope"},
	}
	conversation := []Message{{Role: "user", Content: "a"}, {Role: "assistant", Content: "b"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := mustParse(t, tt.src).Render(conversation, tt.opts)
			if err == nil {
				t.Fatalf("Render = %q, want an error", out)
			}
			var re *RaiseError
			if got := errors.As(err, &re); got != (tt.raised != "") {
				t.Fatalf("error %v: RaiseError %v, want %v", err, got, tt.raised != "")
			}
			if re != nil && re.Message != tt.raised {
				t.Errorf("RaiseError.Message = %q, want %q", re.Message, tt.raised)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

func TestRenderNilTemplate(t *testing.T) {
	var tmpl *Template
	if _, err := tmpl.Render(nil, Options{}); err == nil {
		t.Error("Render on a nil *Template succeeded")
	}
}

func TestRenderIsRepeatableAndConcurrent(t *testing.T) {
	tmpl := mustParse(t, loadTemplates(t)["llama3_2"].ChatTemplate)
	opts := Options{BOSToken: "<|begin_of_text|>", Extra: map[string]any{"date_string": "26 Jul 2024"}}
	want, err := tmpl.Render([]Message{{Role: "user", Content: "x"}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				msgs := []Message{{Role: "user", Content: "x"}}
				got, err := tmpl.Render(msgs, opts)
				if err != nil || got != want {
					errs <- fmt.Errorf("goroutine %d, render %d: %q, %v", g, i, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSource(t *testing.T) {
	src := "{{ x | tojson }}"
	if got := mustParse(t, src).Source(); got != src {
		t.Errorf("Source() = %q, want %q", got, src)
	}
}
