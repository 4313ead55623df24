package chat

import (
	"math"
	"testing"
	"time"

	"github.com/ardanlabs/jinja"
)

// The expected strings in this file were printed by CPython 3.11's json and
// datetime modules (json.dumps with transformers' tojson arguments,
// repr(float), datetime.strftime).

func TestTojson(t *testing.T) {
	value, err := decodeJSON([]byte(`{"b": 1, "a": [1, 2.5, {"x": null, "y": true}], "é": "q\"uote <&> \u2028 \u007f \u0001 \n\t\\ 🤖"}`))
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) jinja.Value { return jinja.NewString(s) }
	list := func(items ...jinja.Value) jinja.Value { return jinja.NewList(items) }
	tests := []struct {
		name   string
		args   []jinja.Value
		kwargs map[string]jinja.Value
		want   string
	}{
		{"defaults", nil, nil,
			"{\"b\": 1, \"a\": [1, 2.5, {\"x\": null, \"y\": true}], \"é\": \"q\\\"uote <&> \u2028 \u007f \\u0001 \\n\\t\\\\ 🤖\"}"},
		{"indent 2", nil, map[string]jinja.Value{"indent": jinja.NewInt(2)},
			"{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2.5,\n    {\n      \"x\": null,\n      \"y\": true\n    }\n  ],\n  \"é\": \"q\\\"uote <&> \u2028 \u007f \\u0001 \\n\\t\\\\ 🤖\"\n}"},
		{"indent 0 still breaks lines", nil, map[string]jinja.Value{"indent": jinja.NewInt(0)},
			"{\n\"b\": 1,\n\"a\": [\n1,\n2.5,\n{\n\"x\": null,\n\"y\": true\n}\n],\n\"é\": \"q\\\"uote <&> \u2028 \u007f \\u0001 \\n\\t\\\\ 🤖\"\n}"},
		{"indent string", nil, map[string]jinja.Value{"indent": str("\t")},
			"{\n\t\"b\": 1,\n\t\"a\": [\n\t\t1,\n\t\t2.5,\n\t\t{\n\t\t\t\"x\": null,\n\t\t\t\"y\": true\n\t\t}\n\t],\n\t\"é\": \"q\\\"uote <&> \u2028 \u007f \\u0001 \\n\\t\\\\ 🤖\"\n}"},
		{"sort_keys", nil, map[string]jinja.Value{"sort_keys": jinja.NewBool(true)},
			"{\"a\": [1, 2.5, {\"x\": null, \"y\": true}], \"b\": 1, \"é\": \"q\\\"uote <&> \u2028 \u007f \\u0001 \\n\\t\\\\ 🤖\"}"},
		{"ensure_ascii", nil, map[string]jinja.Value{"ensure_ascii": jinja.NewBool(true)},
			"{\"b\": 1, \"a\": [1, 2.5, {\"x\": null, \"y\": true}], \"\\u00e9\": \"q\\\"uote <&> \\u2028 \\u007f \\u0001 \\n\\t\\\\ \\ud83e\\udd16\"}"},
		{"ensure_ascii positionally", []jinja.Value{jinja.NewBool(true)}, nil,
			"{\"b\": 1, \"a\": [1, 2.5, {\"x\": null, \"y\": true}], \"\\u00e9\": \"q\\\"uote <&> \\u2028 \\u007f \\u0001 \\n\\t\\\\ \\ud83e\\udd16\"}"},
		{"compact separators", nil, map[string]jinja.Value{"separators": list(str(","), str(":"))},
			"{\"b\":1,\"a\":[1,2.5,{\"x\":null,\"y\":true}],\"é\":\"q\\\"uote <&> \u2028 \u007f \\u0001 \\n\\t\\\\ 🤖\"}"},
		{"indent with separators", nil, map[string]jinja.Value{"indent": jinja.NewInt(2), "separators": list(str(", "), str(" = "))},
			"{\n  \"b\" = 1, \n  \"a\" = [\n    1, \n    2.5, \n    {\n      \"x\" = null, \n      \"y\" = true\n    }\n  ], \n  \"é\" = \"q\\\"uote <&> \u2028 \u007f \\u0001 \\n\\t\\\\ 🤖\"\n}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tojsonFilter(append([]jinja.Value{value}, tt.args...), tt.kwargs)
			if err != nil {
				t.Fatal(err)
			}
			if got.AsString() != tt.want {
				t.Errorf("got  %q\nwant %q", got.AsString(), tt.want)
			}
		})
	}
}

func TestTojsonEmptyAndScalars(t *testing.T) {
	indent2 := map[string]jinja.Value{"indent": jinja.NewInt(2)}
	tests := []struct {
		v      jinja.Value
		kwargs map[string]jinja.Value
		want   string
	}{
		{jinja.NewList(nil), nil, "[]"},
		{jinja.NewDict(), indent2, "{}"},
		{jinja.NewList([]jinja.Value{jinja.NewList(nil), jinja.NewDict()}), indent2, "[\n  [],\n  {}\n]"},
		{jinja.None(), nil, "null"},
		{jinja.NewBool(false), nil, "false"},
		{jinja.NewInt(-9007199254740993), nil, "-9007199254740993"},
		{jinja.NewFloat(1), nil, "1.0"},
		{jinja.NewFloat(math.Inf(-1)), nil, "-Infinity"},
		{jinja.NewString("bad \xff byte"), nil, "\"bad \ufffd byte\""},
	}
	for _, tt := range tests {
		got, err := tojsonFilter([]jinja.Value{tt.v}, tt.kwargs)
		if err != nil {
			t.Errorf("tojson(%v): %v", tt.v, err)
			continue
		}
		if got.AsString() != tt.want {
			t.Errorf("tojson(%v) = %q, want %q", tt.v, got.AsString(), tt.want)
		}
	}
}

func TestTojsonErrors(t *testing.T) {
	one := jinja.NewInt(1)
	tests := []struct {
		name   string
		args   []jinja.Value
		kwargs map[string]jinja.Value
	}{
		{"no value", nil, nil},
		{"undefined", []jinja.Value{jinja.Undefined()}, nil},
		{"undefined inside", []jinja.Value{jinja.NewList([]jinja.Value{jinja.Undefined()})}, nil},
		{"function", []jinja.Value{jinja.NewCallable("f", nil)}, nil},
		{"too many arguments", []jinja.Value{one, one, one, one, one, one}, nil},
		{"unknown keyword", []jinja.Value{one}, map[string]jinja.Value{"indnet": one}},
		{"argument twice", []jinja.Value{one, one}, map[string]jinja.Value{"ensure_ascii": one}},
		{"bad separators", []jinja.Value{one}, map[string]jinja.Value{"separators": jinja.NewString(",")}},
		{"bad indent", []jinja.Value{one}, map[string]jinja.Value{"indent": jinja.NewFloat(2)}},
	}
	for _, tt := range tests {
		if got, err := tojsonFilter(tt.args, tt.kwargs); err == nil {
			t.Errorf("%s: tojson = %v, want an error", tt.name, got)
		}
	}
}

func TestPythonFloat(t *testing.T) {
	tests := []struct {
		f    float64
		repr string
	}{
		{1, "1.0"}, {0.1, "0.1"}, {1e15, "1000000000000000.0"}, {1e16, "1e+16"},
		{123456789012345678, "1.2345678901234568e+17"}, {1e-4, "0.0001"}, {1e-5, "1e-05"},
		{0.00012345, "0.00012345"}, {math.Copysign(0, -1), "-0.0"}, {2.5e-7, "2.5e-07"},
		{math.MaxFloat64, "1.7976931348623157e+308"}, {100, "100.0"}, {3.14159, "3.14159"},
	}
	for _, tt := range tests {
		if got := pythonFloat(tt.f, true); got != tt.repr {
			t.Errorf("pythonFloat(%v) = %q, want %q", tt.f, got, tt.repr)
		}
	}
	for f, want := range map[float64][2]string{
		math.NaN():   {"NaN", "nan"},
		math.Inf(1):  {"Infinity", "inf"},
		math.Inf(-1): {"-Infinity", "-inf"},
	} {
		if got := pythonFloat(f, true); got != want[0] {
			t.Errorf("pythonFloat(%v, json) = %q, want %q", f, got, want[0])
		}
		if got := pythonFloat(f, false); got != want[1] {
			t.Errorf("pythonFloat(%v) = %q, want %q", f, got, want[1])
		}
	}
}

func TestStrftime(t *testing.T) {
	afternoon := time.Date(2025, 3, 5, 14, 7, 9, 123456000, time.UTC)
	midnight := time.Date(2024, 12, 29, 0, 5, 0, 0, time.UTC)
	tests := []struct {
		t      time.Time
		format string
		want   string
	}{
		{afternoon, "%d %b %Y", "05 Mar 2025"},
		{afternoon, "%Y-%m-%d %H:%M:%S", "2025-03-05 14:07:09"},
		{afternoon, "%A %a %B %j %I %p %y %w %u %f %%", "Wednesday Wed March 064 02 PM 25 3 3 123456 %"},
		{afternoon, "%e|%q|%", " 5|%q|%"},
		{midnight, "%I %p %j %a %u %w", "12 AM 364 Sun 7 0"},
		{afternoon, "%z %Z", "+0000 UTC"},
	}
	for _, tt := range tests {
		if got := strftime(tt.t, tt.format); got != tt.want {
			t.Errorf("strftime(%v, %q) = %q, want %q", tt.t, tt.format, got, tt.want)
		}
	}
}

// TestStrftimeNowUsesTheClock renders strftime_now on the real clock and
// checks it against the clock read before and after.
func TestStrftimeNowUsesTheClock(t *testing.T) {
	tmpl := mustParse(t, "{{ strftime_now('%Y-%m-%d %H:%M') }}")
	before := time.Now()
	got, err := tmpl.Render(nil, Options{})
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if got != before.Format("2006-01-02 15:04") && got != after.Format("2006-01-02 15:04") {
		t.Errorf("strftime_now = %q, want the time between %v and %v", got, before, after)
	}
}
