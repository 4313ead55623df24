package finetune_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/tokenizer"
)

// logCapture collects the messages of the warnings logged with slog.
type logCapture struct {
	mu   *sync.Mutex
	msgs *[]string
}

func (h logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (h logCapture) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h logCapture) WithGroup(string) slog.Handler            { return h }
func (h logCapture) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.mu.Lock()
		*h.msgs = append(*h.msgs, r.Message)
		h.mu.Unlock()
	}
	return nil
}

// captureWarnings makes slog's default logger record warnings until the
// test ends; the returned function gives those whose message mentions
// about.
func captureWarnings(t *testing.T) func(about string) []string {
	var mu sync.Mutex
	var msgs []string
	old := slog.Default()
	slog.SetDefault(slog.New(logCapture{&mu, &msgs}))
	t.Cleanup(func() { slog.SetDefault(old) })
	return func(about string) []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, m := range msgs {
			if strings.Contains(m, about) {
				out = append(out, m)
			}
		}
		return out
	}
}

// tokenizerDir writes a small byte-level BPE tokenizer with the special
// token <|endoftext|> into a new model directory, with the given
// tokenizer_config.json fields.
func tokenizerDir(t *testing.T, config map[string]any) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	tok := tokenizer.TrainByteLevelBPE([]string{"hello world", "the cat sat on the mat", "user assistant"}, 300, []string{"<|endoftext|>"})
	if err := tok.WriteFile(dir); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLoadTokenizerWarnsEOSNotInVocabulary: an eos_token the vocabulary
// lacks is reported once per load, naming the tokenizer file and the token.
func TestLoadTokenizerWarnsEOSNotInVocabulary(t *testing.T) {
	warnings := captureWarnings(t)
	missing := tokenizerDir(t, map[string]any{"eos_token": "</s>"})
	tok, err := finetune.LoadTokenizer(missing, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tok.EOS(); ok {
		t.Fatal("the tokenizer has an EOS id for a token it lacks")
	}
	got := warnings(missing)
	if len(got) != 1 {
		t.Fatalf("%d warnings naming %s, want 1: %q", len(got), missing, got)
	}
	for _, want := range []string{filepath.Join(missing, "tokenizer.json"), `eos_token "</s>"`, "not in the vocabulary"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("warning %q does not contain %q", got[0], want)
		}
	}

	present := tokenizerDir(t, map[string]any{"eos_token": "<|endoftext|>"})
	if _, err := finetune.LoadTokenizer(present, 1000); err != nil {
		t.Fatal(err)
	}
	if got := warnings(present); len(got) != 0 {
		t.Errorf("warnings for an EOS in the vocabulary: %q", got)
	}
}

var conversation = []data.Message{{Role: "user", Content: "hello"}, {Role: "assistant", Content: "world"}}

// TestChatRendererWarnsChatMLFallback: rendering a conversation for a
// tokenizer without a chat template uses ChatML and says so, once per
// loaded tokenizer, naming the model directory; a tokenizer with a
// template renders without a warning.
func TestChatRendererWarnsChatMLFallback(t *testing.T) {
	warnings := captureWarnings(t)
	dir := tokenizerDir(t, map[string]any{"eos_token": "<|endoftext|>"})
	tok, err := finetune.LoadTokenizer(dir, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(warnings(dir)); n != 0 {
		t.Fatalf("%d warnings before any conversation was rendered", n)
	}
	for range 2 { // the training and the evaluation set's renderers
		r := finetune.NewChatRenderer(tok)
		for range 2 {
			out, err := r.RenderChat(conversation)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(out, "<|im_start|>user\nhello<|im_end|>") {
				t.Fatalf("rendered %q, want ChatML", out)
			}
		}
	}
	got := warnings(dir)
	if len(got) != 1 {
		t.Fatalf("%d warnings naming %s, want 1: %q", len(got), dir, got)
	}
	if !strings.Contains(got[0], "no chat template") || !strings.Contains(got[0], "ChatML") {
		t.Errorf("warning %q does not say the conversation is rendered as ChatML for want of a chat template", got[0])
	}

	// A new load warns again.
	again, err := finetune.LoadTokenizer(dir, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := finetune.NewChatRenderer(again).Render(conversation, true); err != nil {
		t.Fatal(err)
	}
	if n := len(warnings(dir)); n != 2 {
		t.Errorf("%d warnings after a second load, want 2", n)
	}

	withTemplate := tokenizerDir(t, map[string]any{"chat_template": "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"})
	tok, err = finetune.LoadTokenizer(withTemplate, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := finetune.NewChatRenderer(tok).RenderChat(conversation); err != nil {
		t.Fatal(err)
	}
	if got := warnings(withTemplate); len(got) != 0 {
		t.Errorf("warnings for a tokenizer with a chat template: %q", got)
	}
}

// TestChatTemplateErrorsSayChatTemplateOnce: a broken or raising chat
// template is reported with the model directory and "chat template" once,
// by the renderer and by data.Decode.
func TestChatTemplateErrorsSayChatTemplateOnce(t *testing.T) {
	captureWarnings(t)
	for _, tc := range []struct{ template, want string }{
		{"{% for m in messages %}{{ m['content'] }}", `chat template: line 1, column 1: "for" block is never closed`},
		{"{{ raise_exception('no assistant turns here') }}", "chat template raised an exception: no assistant turns here"},
	} {
		dir := tokenizerDir(t, map[string]any{"chat_template": tc.template})
		tok, err := finetune.LoadTokenizer(dir, 1000)
		if err != nil {
			t.Fatal(err)
		}
		_, err = finetune.NewChatRenderer(tok).Render(conversation, true)
		if want := dir + ": " + tc.want; err == nil || err.Error() != want {
			t.Errorf("Render: error %v, want %q", err, want)
		}
		r := finetune.NewChatRenderer(tok)
		line := `{"messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "world"}]}`
		_, _, err = data.Decode(strings.NewReader(line), "chat.jsonl", data.Options{Tokenizer: tok, Chat: r})
		if want := `chat.jsonl:1: "messages": ` + dir + ": " + tc.want; err == nil || err.Error() != want {
			t.Errorf("Decode: error %v, want %q", err, want)
		}
		if err != nil && strings.Count(err.Error(), "chat template") != 1 {
			t.Errorf("Decode: error %q does not say \"chat template\" exactly once", err)
		}
	}
}
