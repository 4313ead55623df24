package finetune_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/orthotune/orthotune/chat"
	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/tokenizer"
)

// chatReference is a tokenizer/testdata/<name>/chat.json, written by
// tokenizer/testdata/gen/chat.mjs: Hugging Face's apply_chat_template over
// a set of conversations, as text and as ids.
type chatReference struct {
	Tokenizer string `json:"tokenizer"`
	Generator string `json:"generator"`
	Cases     []struct {
		Name                string         `json:"name"`
		Messages            []data.Message `json:"messages"`
		AddGenerationPrompt bool           `json:"add_generation_prompt"`
		Extra               map[string]any `json:"extra"`
		Text                *string        `json:"text"`
		IDs                 []int          `json:"ids"`
		Error               string         `json:"error"`
	} `json:"cases"`
}

// TestChatTemplatesMatchTransformers renders the real chat templates of
// Qwen3 and Gemma 3, from their own tokenizer_config.json, through
// ChatRenderer (the path of "messages" data and --chat) and encodes the
// result as the data package does (Encode, no special tokens added): text
// and ids must equal Hugging Face's apply_chat_template, and a conversation
// the template rejects must be rejected.
func TestChatTemplatesMatchTransformers(t *testing.T) {
	for _, name := range []string{"qwen3", "gemma3"} {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join("..", "tokenizer", "testdata", name)
			dir := t.TempDir()
			if name == "gemma3" {
				testref.Gemma3Tokenizer(t, dir)
			} else {
				testref.CopyMaybeGz(t, filepath.Join(src, "tokenizer.json"), filepath.Join(dir, "tokenizer.json"))
				testref.CopyMaybeGz(t, filepath.Join(src, "tokenizer_config.json"), filepath.Join(dir, "tokenizer_config.json"))
			}
			tok, err := tokenizer.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if tok.ChatTemplate() == "" {
				t.Fatalf("%s: no chat template loaded", name)
			}
			raw, err := os.ReadFile(filepath.Join(src, "chat.json"))
			if err != nil {
				t.Fatal(err)
			}
			var ref chatReference
			if err := json.Unmarshal(raw, &ref); err != nil {
				t.Fatalf("%s/chat.json: %v", src, err)
			}
			if len(ref.Cases) < 10 {
				t.Fatalf("%s/chat.json: only %d cases", src, len(ref.Cases))
			}
			raised := 0
			for _, c := range ref.Cases {
				r := finetune.NewChatRenderer(tok)
				r.SetTemplateVars(c.Extra)
				got, err := r.Render(c.Messages, c.AddGenerationPrompt)
				if c.Error != "" {
					var re *chat.RaiseError
					if !errors.As(err, &re) || re.Message != c.Error {
						t.Errorf("%s: Render = %q, %v; want the template to raise %q", c.Name, got, err, c.Error)
					}
					raised++
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", c.Name, err)
					continue
				}
				if c.Text == nil || got != *c.Text {
					t.Errorf("%s: text\n got %q\nwant %q", c.Name, got, deref(c.Text))
					continue
				}
				if ids := tok.Encode(got); !slices.Equal(ids, c.IDs) {
					t.Errorf("%s: ids\n got %v\nwant %v", c.Name, ids, c.IDs)
				}
			}
			t.Logf("%s: %d conversations (%d rejected by the template) against %s", name, len(ref.Cases), raised, ref.Generator)
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<none>"
	}
	return *s
}
