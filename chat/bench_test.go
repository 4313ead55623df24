package chat

import (
	"encoding/json"
	"testing"
)

var benchMessages = []Message{
	{Role: "system", Content: "You are a helpful assistant."},
	{Role: "user", Content: "What is the capital of France?"},
	{Role: "assistant", Content: "Paris."},
	{Role: "user", Content: "And of Germany?"},
}

func BenchmarkParse(b *testing.B) {
	templates := loadTemplates(b)
	for _, name := range []string{"default", "qwen2_5", "llama3_2", "command_r7b"} {
		src := templates[name].ChatTemplate
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				if _, err := Parse(src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRender(b *testing.B) {
	templates := loadTemplates(b)
	tools := json.RawMessage(`[{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
		"parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]`)
	for _, bc := range []struct {
		name  string
		extra map[string]any
	}{
		{"default", nil},
		{"qwen2_5", nil},
		{"qwen2_5", map[string]any{"tools": tools}},
		{"llama3_2", map[string]any{"date_string": "26 Jul 2024", "tools": tools}},
		{"mistral_nemo", nil},
		{"qwen3", nil},
	} {
		tf := templates[bc.name]
		tmpl := mustParse(b, tf.ChatTemplate)
		label := bc.name
		if bc.extra["tools"] != nil {
			label += "_tools"
		}
		b.Run(label, func(b *testing.B) {
			opts := Options{AddGenerationPrompt: true, BOSToken: tf.BOSToken, EOSToken: tf.EOSToken, Extra: bc.extra}
			for b.Loop() {
				if _, err := tmpl.Render(benchMessages, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
