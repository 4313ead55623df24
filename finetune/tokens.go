package finetune

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/orthotune/orthotune/chat"
	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/tokenizer"
)

// LoadTokenizer reads the model directory's tokenizer.json (nil when
// there is none) and checks it against the model's vocabulary size. An
// eos_token that is not in the vocabulary is logged as a warning (slog):
// records then get no end-of-sequence token and generation cannot stop
// at one.
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
	if eos, ok := tok.SpecialTokens()["eos_token"]; ok {
		if _, ok := tok.TokenID(eos); !ok {
			slog.Warn(fmt.Sprintf("%s: eos_token %q (tokenizer_config.json or special_tokens_map.json) is not in the vocabulary: records get no end-of-sequence token, so the model does not learn to stop, and generation cannot stop at one", path, eos))
		}
	}
	remember(tok, modelDir)
	return tok, nil
}

// loaded maps each tokenizer LoadTokenizer returned, as long as it lives,
// to what a ChatRenderer needs to know of where it came from.
var loaded sync.Map // weak.Pointer[tokenizer.Tokenizer] → *origin

type origin struct {
	dir        string
	warnedChat atomic.Bool // the ChatML fallback has been reported
}

func remember(tok *tokenizer.Tokenizer, dir string) {
	key := weak.Make(tok)
	loaded.Store(key, &origin{dir: dir})
	runtime.AddCleanup(tok, func(k weak.Pointer[tokenizer.Tokenizer]) { loaded.Delete(k) }, key)
}

// originOf returns where LoadTokenizer read tok, or nil.
func originOf(tok *tokenizer.Tokenizer) *origin {
	if o, ok := loaded.Load(weak.Make(tok)); ok {
		return o.(*origin)
	}
	return nil
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
	tok  *tokenizer.Tokenizer
	src  string
	tpl  *chat.Template
	err  error
	at   *origin        // where LoadTokenizer read tok, or nil
	vars map[string]any // SetTemplateVars
}

// SetTemplateVars sets further variables the chat template sees, as
// transformers' apply_chat_template(..., **kwargs) passes them: Qwen3's
// enable_thinking, a date_string, tools. They are set after the special
// tokens, as in transformers; messages and add_generation_prompt cannot be
// set so (Render fails). See chat.Options.Extra for how values are given
// to the template. Call it before rendering; nil clears them.
func (r *ChatRenderer) SetTemplateVars(vars map[string]any) {
	r.vars = nil
	if len(vars) > 0 {
		r.vars = make(map[string]any, len(vars))
		for k, v := range vars {
			r.vars[k] = v
		}
	}
}

// CheckTemplateVars refuses chat template variables that rendering sets
// itself (messages, add_generation_prompt), naming the variable.
func CheckTemplateVars(vars map[string]any) error {
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if chat.IsRenderVar(k) {
			return fmt.Errorf("chat_template_kwargs: %q is set by rendering each record, not here", k)
		}
	}
	return nil
}

// specialRoles are the special tokens transformers gives chat templates as
// variables besides bos_token and eos_token (its SPECIAL_TOKEN_ATTRIBUTES),
// when tokenizer_config.json sets them.
var specialRoles = []string{"unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}

// NewChatRenderer returns the renderer of tok's chat template. A tokenizer
// without one renders conversations as ChatML; the first conversation
// rendered so logs a warning (slog), once per tokenizer LoadTokenizer
// loaded, naming its model directory.
func NewChatRenderer(tok *tokenizer.Tokenizer) *ChatRenderer {
	r := &ChatRenderer{tok: tok, src: tok.ChatTemplate(), at: originOf(tok)}
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
		if r.tok.ChatTemplate() == "" {
			r.warnChatML()
		}
		r.tpl, r.err = chat.Parse(r.src)
		if r.err != nil {
			r.err = r.where(r.err) // the error says "chat template: ..."
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
	var extra map[string]any
	for _, role := range specialRoles {
		if v := special[role]; v != "" {
			if extra == nil {
				extra = make(map[string]any, len(specialRoles)+len(r.vars))
			}
			extra[role] = v
		}
	}
	if len(r.vars) > 0 && extra == nil {
		extra = make(map[string]any, len(r.vars))
	}
	for k, v := range r.vars {
		extra[k] = v
	}
	out, err := r.tpl.Render(msgs, chat.Options{AddGenerationPrompt: addGenerationPrompt, BOSToken: special["bos_token"], EOSToken: special["eos_token"], Extra: extra})
	if err != nil {
		return "", r.where(err)
	}
	return out, nil
}

// where prefixes an error of the chat template with the model directory
// it came from, when known.
func (r *ChatRenderer) where(err error) error {
	if r.at == nil {
		return err
	}
	return fmt.Errorf("%s: %w", r.at.dir, err)
}

// warnChatML reports that conversations are rendered as ChatML for want of
// a chat template: once per loaded tokenizer, or per renderer of one
// LoadTokenizer did not load.
func (r *ChatRenderer) warnChatML() {
	dir := "the tokenizer"
	if r.at != nil {
		if r.at.warnedChat.Swap(true) {
			return
		}
		dir = r.at.dir
	}
	slog.Warn(fmt.Sprintf("%s: no chat template (neither tokenizer_config.json's chat_template nor chat_template.jinja): conversations are rendered as ChatML (<|im_start|>role ... <|im_end|>), a format the model may never have seen; add the model's chat template to train or chat with it in its own format", dir))
}
