package chat

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/ardanlabs/jinja"
)

func TestRewriteFilters(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"expression", "{{ x | tojson }}", "{{ x | hfjson }}"},
		{"no spaces, arguments", "{{ x|tojson(indent=4) }}", "{{ x|hfjson(indent=4) }}"},
		{"trim markers", "{{- x |\n tojson -}}", "{{- x |\n hfjson -}}"},
		{"in a statement", "{% set s = x | tojson %}", "{% set s = x | hfjson %}"},
		{"chained", "{{ x | tojson | safe }}", "{{ x | hfjson | safe }}"},
		{"several", "{{ a|tojson }}{{ b|tojson }}", "{{ a|hfjson }}{{ b|hfjson }}"},
		{"inside a string", `{{ "| tojson" ~ '|tojson' }}`, `{{ "| tojson" ~ '|tojson' }}`},
		{"escaped quote in a string", `{{ 'it\'s | tojson' | tojson }}`, `{{ 'it\'s | tojson' | hfjson }}`},
		{"closer in a string", `{{ '}}' | tojson }}`, `{{ '}}' | hfjson }}`},
		{"other filter", "{{ x | tojsonx }}{{ x | to_json }}", "{{ x | tojsonx }}{{ x | to_json }}"},
		{"not a filter", "{{ tojson }}{{ x.tojson }}", "{{ tojson }}{{ x.tojson }}"},
		{"text", "a | tojson {{ 1 }}", "a | tojson {{ 1 }}"},
		{"comment", "{# x | tojson #}", "{# x | tojson #}"},
		{"raw block", "{% raw %}{{ x | tojson }}{% endraw %}{{ y | tojson }}", "{% raw %}{{ x | tojson }}{% endraw %}{{ y | hfjson }}"},
		{"unclosed tag", "{{ x | tojson", "{{ x | tojson"},
		{"trim", "{{ x | trim }}{{ y|trim('ab') | tojson }}", "{{ x | hftr }}{{ y|hftr('ab') | hfjson }}"},
		{"trim in a statement", "{%- set c = m['content'] |\ttrim -%}", "{%- set c = m['content'] |\thftr -%}"},
		{"not trim", "{{ x | trimmed }}{{ x.trim() }}{{ trim }}{{ 'a|trim' }}", "{{ x | trimmed }}{{ x.trim() }}{{ trim }}{{ 'a|trim' }}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rewriteFilters(tt.src)
			if got != tt.want {
				t.Errorf("rewriteFilters(%q) = %q, want %q", tt.src, got, tt.want)
			}
			if len(got) != len(tt.src) || strings.Count(got, "\n") != strings.Count(tt.src, "\n") {
				t.Errorf("rewriteFilters(%q) moved text: %q", tt.src, got)
			}
		})
	}
}

func TestScanTags(t *testing.T) {
	src := "ab\n{{ x }} é{%- if '%}' -%}\n{# c\n #}{% endif %}"
	tags := scanTags(src)
	want := []struct {
		kind      byte
		line, col int
		body      string
	}{
		{'{', 2, 1, " x "},
		{'%', 2, 10, " if '%}' "},
		{'#', 3, 1, " c\n "},
		{'%', 4, 4, " endif "},
	}
	if len(tags) != len(want) {
		t.Fatalf("scanTags found %d tags, want %d: %+v", len(tags), len(want), tags)
	}
	for i, w := range want {
		tg := tags[i]
		if tg.kind != w.kind || tg.line != w.line || tg.col != w.col || src[tg.bodyStart:tg.bodyEnd] != w.body {
			t.Errorf("tag %d = kind %c line %d col %d body %q, want %c %d %d %q",
				i, tg.kind, tg.line, tg.col, src[tg.bodyStart:tg.bodyEnd], w.kind, w.line, w.col, w.body)
		}
	}
}

func TestToValue(t *testing.T) {
	type tool struct {
		Type     string         `json:"type"`
		Function map[string]any `json:"function"`
		Optional *int           `json:"optional,omitempty"`
	}
	three := 3
	tests := []struct {
		name string
		x    any
		want string // the value as tojson writes it
	}{
		{"nil", nil, "null"},
		{"nil slice", []string(nil), "null"},
		{"nil map", map[string]int(nil), "null"},
		{"nil pointer", (*int)(nil), "null"},
		{"pointer", &three, "3"},
		{"ints", []any{int8(-1), uint16(2), int64(math.MinInt64), uint64(math.MaxInt64)}, "[-1, 2, -9223372036854775808, 9223372036854775807]"},
		{"floats", []any{float32(0.5), 2.0}, "[0.5, 2.0]"},
		{"json.Number", []json.Number{"12", "1.5", "1e3", "99999999999999999999"}, "[12, 1.5, 1000.0, 1e+20]"},
		{"array", [2]bool{true, false}, "[true, false]"},
		{"sorted map", map[string]any{"b": "x", "a": []int{1}}, `{"a": [1], "b": "x"}`},
		{"named string type", map[string]json.RawMessage{"k": json.RawMessage(`{"z":0,"a":{}}`)}, `{"k": {"z": 0, "a": {}}}`},
		{"struct", tool{Type: "function", Function: map[string]any{"name": "f"}}, `{"type": "function", "function": {"name": "f"}}`},
		{"message", Message{Role: "user", Content: "hi"}, `{"role": "user", "content": "hi"}`},
		{"jinja value", jinja.NewString("v"), `"v"`},
		{"raw repeated key", json.RawMessage(`{"a": 1, "b": 2, "a": 3}`), `{"a": 3, "b": 2}`},
		{"raw scalar", json.RawMessage(` "s" `), `"s"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := toValue(tt.x)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tojsonFilter([]jinja.Value{v}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.AsString() != tt.want {
				t.Errorf("toValue(%#v) = %s, want %s", tt.x, got.AsString(), tt.want)
			}
		})
	}
}

func TestToValueErrors(t *testing.T) {
	deep := json.RawMessage(strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2))
	tests := []struct {
		name string
		x    any
	}{
		{"channel", make(chan int)},
		{"function", func() {}},
		{"int keys", map[int]string{1: "a"}},
		{"uint64 overflow", uint64(math.MaxUint64)},
		{"bad JSON", json.RawMessage(`{"a":`)},
		{"trailing JSON", json.RawMessage(`1 2`)},
		{"empty JSON", json.RawMessage(``)},
		{"too deep", deep},
		{"unmarshalable struct", struct{ C chan int }{}},
	}
	for _, tt := range tests {
		if v, err := toValue(tt.x); err == nil {
			t.Errorf("%s: toValue = %v, want an error", tt.name, v)
		}
	}
}
