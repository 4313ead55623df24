package chat_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/orthotune/orthotune/chat"
)

func Example() {
	t, err := chat.Parse(chat.Default)
	if err != nil {
		panic(err)
	}
	prompt, err := t.Render([]chat.Message{
		{Role: "system", Content: "You are a helpful assistant."},
		{Role: "user", Content: "What is 2+2?"},
	}, chat.Options{AddGenerationPrompt: true})
	if err != nil {
		panic(err)
	}
	fmt.Print(prompt)
	// Output:
	// <|im_start|>system
	// You are a helpful assistant.<|im_end|>
	// <|im_start|>user
	// What is 2+2?<|im_end|>
	// <|im_start|>assistant
}

// A template rejects a conversation it cannot format with raise_exception,
// which Render returns as a *RaiseError.
func ExampleRaiseError() {
	const mistral = "{{ bos_token }}{% for message in messages %}" +
		"{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
		"{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
		"{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}" +
		"{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"
	t, err := chat.Parse(mistral)
	if err != nil {
		panic(err)
	}
	_, err = t.Render([]chat.Message{{Role: "user", Content: "a"}, {Role: "user", Content: "b"}},
		chat.Options{BOSToken: "<s>", EOSToken: "</s>"})
	var raised *chat.RaiseError
	fmt.Println(errors.As(err, &raised), raised.Message)
	// Output:
	// true Conversation roles must alternate user/assistant/user/assistant/...
}

// Tools given as JSON keep their key order through tojson.
func ExampleOptions() {
	t, err := chat.Parse(`{% for tool in tools %}{{ tool | tojson }}{% endfor %}`)
	if err != nil {
		panic(err)
	}
	tool := json.RawMessage(`{"name": "get_weather", "parameters": {"type": "object"}}`)
	out, err := t.Render(nil, chat.Options{Extra: map[string]any{"tools": []any{tool}}})
	if err != nil {
		panic(err)
	}
	fmt.Println(out)
	// Output:
	// {"name": "get_weather", "parameters": {"type": "object"}}
}

func ExampleParse() {
	_, err := chat.Parse("{% for m in messages %}\n{{ m.content }}\n")
	fmt.Println(err)
	// Output:
	// chat template: line 1, column 1: "for" block is never closed
}
