package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/tokenizer"
)

// TestGenerateWarnsWhenTheContextCutsTheText: `generate` that runs into the
// model's context before --max-new-tokens says on stderr that the text is
// cut off; one that stops at --max-new-tokens does not.
func TestGenerateWarnsWhenTheContextCutsTheText(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	tok := tokenizer.TrainByteLevelBPE([]string{"the cat sat on the mat", "a dog ran in the park"}, 280, nil)
	vocab := (tok.VocabSize() + 7) / 8 * 8
	if _, err := testmodel.Write(dir, testmodel.Spec{ModelType: "llama", Hidden: 16, Heads: 2, KVHeads: 1, Intermediate: 32,
		Layers: 1, Vocab: vocab, Positions: 12, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	if err := tok.WriteFile(dir); err != nil {
		t.Fatal(err)
	}
	prompt := "the cat"
	n := len(tok.EncodeSpecial(prompt))

	code, stdout, stderr := orthotune("generate", "--model", dir, "--prompt", prompt, "--max-new-tokens", "50")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if stdout == "" {
		t.Error("nothing generated")
	}
	for _, want := range []string{"warning", "cut off", "12 positions", filepath.Join(dir, "config.json"), "--max-new-tokens 50"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not contain %q", stderr, want)
		}
	}
	if strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr %q: want one warning line", stderr)
	}

	code, _, stderr = orthotune("generate", "--model", dir, "--prompt", prompt, "--max-new-tokens", "2", "--no-stream")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if strings.Contains(stderr, "cut off") {
		t.Errorf("a %d-token prompt and 2 new tokens in 12 positions: %q", n, stderr)
	}
}

// writeThinkingModel writes a tiny Llama into dir whose chat template adds
// " no think" when the variable enable_thinking is false (as Qwen3's does
// for its generation prompt), and " >" for the generation prompt.
func writeThinkingModel(t *testing.T, dir string) {
	t.Helper()
	tok := tokenizer.TrainByteLevelBPE([]string{"the cat sat on the mat", "a dog ran in the park"}, 280, nil)
	tok.SetChatTemplate("{% for m in messages %}[{{ m.role }}] {{ m.content }}{% endfor %}" +
		"{% if enable_thinking is defined and enable_thinking is false %} no think{% endif %}{% if add_generation_prompt %} >{% endif %}")
	vocab := (tok.VocabSize() + 7) / 8 * 8
	if _, err := testmodel.Write(dir, testmodel.Spec{ModelType: "llama", Hidden: 16, Heads: 2, KVHeads: 1, Intermediate: 32,
		Layers: 1, Vocab: vocab, Positions: 64, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	if err := tok.WriteFile(dir); err != nil {
		t.Fatal(err)
	}
}

// TestGenerateChatTemplateKwargs: --chat-template-kwargs reaches the chat
// template as variables (Qwen3's enable_thinking), and is refused when it
// is not a JSON object, sets messages, or comes without --chat.
func TestGenerateChatTemplateKwargs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	writeThinkingModel(t, dir)
	base := []string{"generate", "--model", dir, "--prompt", "the cat", "--max-new-tokens", "1", "--no-stream", "--echo"}
	tests := []struct {
		name   string
		args   []string
		prompt string // the start of stdout, when it succeeds
		errMsg string // a substring of stderr, when it fails
	}{
		{"chat", []string{"--chat"}, "[user] the cat >", ""},
		{"enable_thinking false", []string{"--chat", "--chat-template-kwargs", `{"enable_thinking": false}`}, "[user] the cat no think >", ""},
		{"enable_thinking true", []string{"--chat", "--chat-template-kwargs", `{"enable_thinking": true}`}, "[user] the cat >", ""},
		{"not an object", []string{"--chat", "--chat-template-kwargs", `[1]`}, "", "--chat-template-kwargs: want a JSON object"},
		{"null", []string{"--chat", "--chat-template-kwargs", `null`}, "", "--chat-template-kwargs: want a JSON object"},
		{"messages", []string{"--chat", "--chat-template-kwargs", `{"messages": []}`}, "", `"messages" is set by --prompt`},
		{"without --chat", []string{"--chat-template-kwargs", `{"enable_thinking": false}`}, "", "--chat-template-kwargs: only with --chat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := orthotune(append(append([]string(nil), base...), tt.args...)...)
			if tt.errMsg != "" {
				if code == 0 || !strings.Contains(stderr, tt.errMsg) {
					t.Fatalf("exit %d, stderr %q: want a failure saying %q", code, stderr, tt.errMsg)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			if !strings.HasPrefix(stdout, tt.prompt) {
				t.Errorf("stdout %q: want the prompt %q", stdout, tt.prompt)
			}
		})
	}
}
