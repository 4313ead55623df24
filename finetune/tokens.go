package finetune

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"

	"github.com/orthotune/orthotune/chat"
	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/tokenizer"
)

// LoadTokenizer reads the model directory's tokenizer.json (nil when
// there is none) and checks it against the model's vocabulary size.
func LoadTokenizer(modelDir string, vocab int) (*tokenizer.Tokenizer, error) {
	path := filepath.Join(modelDir, "tokenizer.json")
	if _, err := os.Stat(path); errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	tok, err := tokenizer.Load(modelDir)
	if err != nil {
		return nil, err
	}
	if n := tok.VocabSize(); n > vocab {
		return nil, fmt.Errorf("%s has token ids up to %d but %s says vocab_size %d: the tokenizer does not belong to this model",
			path, n-1, filepath.Join(modelDir, "config.json"), vocab)
	}
	return tok, nil
}

// PadID is the id padding rows get: the tokenizer's pad token, else its
// EOS, else 0 (padding carries no loss either way).
func PadID(tok *tokenizer.Tokenizer) int {
	if tok == nil {
		return 0
	}
	if id, ok := tok.PAD(); ok {
		return id
	}
	if id, ok := tok.EOS(); ok {
		return id
	}
	return 0
}

// ChatRenderer renders conversations with a tokenizer's chat template
// (ChatML when it has none). It implements data.ChatRenderer.
type ChatRenderer struct {
	tok *tokenizer.Tokenizer
	src string
	tpl *chat.Template
	err error
}

// NewChatRenderer returns the renderer of tok's chat template.
func NewChatRenderer(tok *tokenizer.Tokenizer) *ChatRenderer {
	r := &ChatRenderer{tok: tok, src: tok.ChatTemplate()}
	if r.src == "" {
		r.src = chat.Default
	}
	return r
}

// RenderChat implements data.ChatRenderer (no generation prompt).
func (r *ChatRenderer) RenderChat(messages []data.Message) (string, error) {
	return r.Render(messages, false)
}

// Render renders messages, with the template's generation prompt for the
// assistant's next turn when addGenerationPrompt is set.
func (r *ChatRenderer) Render(messages []data.Message, addGenerationPrompt bool) (string, error) {
	if r.tpl == nil && r.err == nil {
		r.tpl, r.err = chat.Parse(r.src)
		if r.err != nil {
			r.err = fmt.Errorf("chat template: %w", r.err)
		}
	}
	if r.err != nil {
		return "", r.err
	}
	msgs := make([]chat.Message, len(messages))
	for i, m := range messages {
		msgs[i] = chat.Message{Role: m.Role, Content: m.Content}
	}
	special := r.tok.SpecialTokens()
	return r.tpl.Render(msgs, chat.Options{AddGenerationPrompt: addGenerationPrompt, BOSToken: special["bos_token"], EOSToken: special["eos_token"]})
}
