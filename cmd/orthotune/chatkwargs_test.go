package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestTrainEvalChatTemplateKwargs: train's and eval's --chat-template-kwargs
// reach the chat template that renders "messages" records (here a variable
// that adds text to every conversation, so the token counts tell), train
// records them in train_config.json and reads them back with --config, and
// a variable rendering sets itself is refused.
func TestTrainEvalChatTemplateKwargs(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "model")
	writeThinkingModel(t, dir)
	data := filepath.Join(root, "chat.jsonl")
	if err := os.WriteFile(data, []byte(`{"messages":[{"role":"user","content":"the cat"},{"role":"assistant","content":"sat on the mat"}]}
{"messages":[{"role":"user","content":"a dog"},{"role":"assistant","content":"ran in the park"}]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	const kwargs = `{"enable_thinking": false}`
	trainTokens := func(args ...string) int {
		t.Helper()
		code, stdout, stderr := orthotune(append([]string{"train", "--method", "lora", "--max-steps", "1", "--validation-split", "0"}, args...)...)
		if code != 0 {
			t.Fatalf("train %v: exit %d\n%s", args, code, stderr)
		}
		m := regexp.MustCompile(`2 training examples \((\d+) tokens`).FindStringSubmatch(stdout + stderr)
		if m == nil {
			t.Fatalf("train %v: no token count in %q", args, stdout+stderr)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	plain := trainTokens("--model", dir, "--data", data, "--output-dir", filepath.Join(root, "plain"))
	out := filepath.Join(root, "kwargs")
	with := trainTokens("--model", dir, "--data", data, "--output-dir", out, "--chat-template-kwargs", kwargs)
	if with <= plain {
		t.Errorf("training tokens: %d with %s, %d without: the variable did not reach the template", with, kwargs, plain)
	}
	var settings map[string]json.RawMessage
	b, err := os.ReadFile(filepath.Join(out, "train_config.json"))
	if err == nil {
		err = json.Unmarshal(b, &settings)
	}
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(settings["chat_template_kwargs"], &got); err != nil || got["enable_thinking"] != false || len(got) != 1 {
		t.Errorf("train_config.json chat_template_kwargs = %s (%v), want %s", settings["chat_template_kwargs"], err, kwargs)
	}
	if again := trainTokens("--config", filepath.Join(out, "train_config.json"), "--output-dir", filepath.Join(root, "again")); again != with {
		t.Errorf("--config train_config.json: %d training tokens, the run it came from %d", again, with)
	}

	evalTokens := func(args ...string) int {
		t.Helper()
		code, stdout, stderr := orthotune(append([]string{"eval", "--model", dir, "--data", data, "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("eval %v: exit %d\n%s", args, code, stderr)
		}
		var rep struct{ Tokens int }
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("eval --json: %v\n%s", err, stdout)
		}
		return rep.Tokens
	}
	if e0, e1 := evalTokens(), evalTokens("--chat-template-kwargs", kwargs); e1 <= e0 {
		t.Errorf("eval tokens: %d with %s, %d without", e1, kwargs, e0)
	}

	for _, cmd := range [][]string{
		{"train", "--model", dir, "--data", data, "--output-dir", filepath.Join(root, "refused")},
		{"eval", "--model", dir, "--data", data},
	} {
		code, _, stderr := orthotune(append(cmd, "--chat-template-kwargs", `{"messages": []}`)...)
		if code == 0 || !strings.Contains(stderr, `"messages" is set by rendering each record`) {
			t.Errorf("%s with messages in --chat-template-kwargs: exit %d, stderr %q", cmd[0], code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "refused")); !os.IsNotExist(err) {
		t.Errorf("a refused train left its output directory behind (%v)", err)
	}
}
