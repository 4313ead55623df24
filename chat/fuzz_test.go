package chat

import (
	"errors"
	"strings"
	"testing"
)

// maxFuzzSource bounds the template sources FuzzParse tries, so that one
// input stays fast.
const maxFuzzSource = 8 << 10

// libraryFailed reports whether err is a recovered panic of the jinja
// library, which the fuzz targets treat as a bug.
func libraryFailed(err error) bool {
	return err != nil && strings.Contains(err.Error(), "the jinja library failed")
}

// renderable reports whether rendering src is bounded in time and memory:
// no macros (recursion), range() or * (huge values), and few loops.
func renderable(src string) bool {
	return len(src) <= 2<<10 && !strings.Contains(src, "macro") && !strings.Contains(src, "range") &&
		!strings.Contains(src, "*") && strings.Count(src, "for") <= 3
}

// FuzzParse feeds Parse arbitrary sources: it must return a template or a
// *ParseError, never panic, and a template must render or fail cleanly.
func FuzzParse(f *testing.F) {
	for _, tf := range loadTemplates(f) {
		f.Add(tf.ChatTemplate)
	}
	for _, s := range []string{
		"", "{{", "{%", "{#", "}}", "{{ }}", "{% %}", "{{ x | tojson(indent=) }}", "{% if %}{% endif %}",
		"{% for x in %}{% endfor %}", "{% raw %}{{ x }}", "{{ 'a\\", "{{ messages[0]['role'] | tojson(indent=2) }}",
		"{% set ns = namespace(a=1) %}{% set ns.a = ns.a + 1 %}{{ ns.a }}", "{{ x[::-1][1:2] }}",
		"{% for m in messages if m.role %}{% break %}{% endfor %}", "{{ 'é' ~ 1 ~ none }}", "{%- set x -%}a{%- endset -%}{{ x }}",
	} {
		f.Add(s)
	}
	msgs := []Message{{Role: "system", Content: "s"}, {Role: "user", Content: "u"}, {Role: "assistant", Content: "a"}}
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > maxFuzzSource {
			return
		}
		tmpl, err := Parse(src)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %T, want *ParseError", src, err)
			}
			if libraryFailed(err) {
				t.Fatalf("Parse(%q): %v", src, err)
			}
			return
		}
		if tmpl.Source() != src {
			t.Fatalf("Source() = %q, want %q", tmpl.Source(), src)
		}
		if !renderable(src) {
			return
		}
		_, err = tmpl.Render(msgs, Options{AddGenerationPrompt: true, BOSToken: "<s>", EOSToken: "</s>"})
		if libraryFailed(err) {
			t.Fatalf("Render of %q: %v", src, err)
		}
	})
}

// FuzzRender renders arbitrary conversations with the real templates: a
// template may raise, but must not fail otherwise, and Default must carry
// every message through verbatim.
func FuzzRender(f *testing.F) {
	templates := loadTemplates(f)
	names := []string{"default", "qwen2_5", "llama3_2", "mistral_nemo", "tinyllama", "gemma2", "qwen3", "deepseek_r1"}
	parsed := make([]*Template, len(names))
	for i, name := range names {
		tmpl, err := Parse(templates[name].ChatTemplate)
		if err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		parsed[i] = tmpl
	}
	f.Add(uint8(0), "user", "hello", "assistant", "hi", true)
	f.Add(uint8(1), "system", "{{ x }}", "user", "</think>\n<think>", false)
	f.Add(uint8(6), "user", "a</think>b", "assistant", "<think>c</think>d", true)
	f.Add(uint8(2), "tool", "\x00\xff", "user", "'\"\\", true)
	f.Fuzz(func(t *testing.T, which uint8, role1, content1, role2, content2 string, gen bool) {
		i := int(which) % len(names)
		msgs := []Message{{Role: role1, Content: content1}, {Role: role2, Content: content2}}
		out, err := parsed[i].Render(msgs, Options{
			AddGenerationPrompt: gen, BOSToken: templates[names[i]].BOSToken, EOSToken: templates[names[i]].EOSToken,
			Extra: map[string]any{"date_string": "26 Jul 2024"},
		})
		var re *RaiseError
		if err != nil && !errors.As(err, &re) {
			t.Fatalf("%s: %v", names[i], err)
		}
		if names[i] == "default" {
			want := "<|im_start|>" + role1 + "\n" + content1 + "<|im_end|>\n<|im_start|>" + role2 + "\n" + content2 + "<|im_end|>\n"
			if gen {
				want += "<|im_start|>assistant\n"
			}
			if out != want {
				t.Fatalf("Default rendered %q, want %q", out, want)
			}
		}
	})
}
