package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"unicode/utf8"
)

// ErrUnsupported is wrapped by errors about a tokenizer.json feature this
// package does not implement (a Unigram model, a Lowercase normalizer, ...).
var ErrUnsupported = errors.New("unsupported")

// AddedToken is one entry of tokenizer.json's added_tokens: a token matched
// in the text as a whole before the model runs.
type AddedToken struct {
	ID      int    `json:"id"`
	Content string `json:"content"`
	// SingleWord: match only where the token is not inside a word.
	SingleWord bool `json:"single_word"`
	// LStrip and RStrip: whitespace left (right) of a match is removed.
	LStrip bool `json:"lstrip"`
	RStrip bool `json:"rstrip"`
	// Normalized: the token is matched in the normalized text.
	Normalized bool `json:"normalized"`
	// Special: a control token (BOS, EOS, chat markers); Decode can skip it.
	Special bool `json:"special"`
}

// Tokenizer encodes text to token ids and decodes ids to text.
type Tokenizer struct {
	model bpe

	// idToToken[id] is the token with that id (model vocab, overridden by
	// added tokens), hasID[id] whether there is one.
	idToToken []string
	hasID     []bool
	// combined is the model vocab plus every added token's content.
	combined map[string]int

	added []AddedToken
	// addedByContent maps an added token's content, and its normalized
	// content when it is matched after normalization, to its index in added.
	addedByContent map[string]int
	splitRaw       *trie
	splitNorm      *trie
	// special holds the contents Decode skips: special added tokens and
	// tokenizer_config's additional_special_tokens.
	special map[string]bool
	// addedContent holds every added token's content (the ByteLevel decoder
	// passes them through unchanged).
	addedContent map[string]bool

	normalizer normalizer
	pre        pipeline
	post       []postStep
	dec        []decoderStep

	// raw JSON of the pipeline parts, written back by MarshalJSON.
	raw rawParts

	cfg tokenizerConfig

	cache wordCache
}

type rawParts struct {
	normalizer, preTokenizer, postProcessor, decoder json.RawMessage
}

// Load reads dir/tokenizer.json and, when present, dir/tokenizer_config.json,
// dir/special_tokens_map.json and dir/chat_template.jinja.
func Load(dir string) (*Tokenizer, error) {
	t, err := LoadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return nil, err
	}
	if err := t.loadConfigDir(dir); err != nil {
		return nil, err
	}
	return t, nil
}

// LoadFile reads a tokenizer.json file (without tokenizer_config.json).
func LoadFile(tokenizerJSON string) (*Tokenizer, error) {
	data, err := os.ReadFile(tokenizerJSON)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return parse(data, tokenizerJSON)
}

// Parse reads the bytes of a tokenizer.json file.
func Parse(data []byte) (*Tokenizer, error) {
	return parse(data, "tokenizer.json")
}

// VocabSize is 1 + the largest id of the model vocab and the added tokens.
func (t *Tokenizer) VocabSize() int { return len(t.idToToken) }

// TokenID returns the id of a token of the vocab or an added token.
func (t *Tokenizer) TokenID(token string) (int, bool) {
	id, ok := t.combined[token]
	return id, ok
}

// Token returns the token with the given id.
func (t *Tokenizer) Token(id int) (string, bool) {
	if id < 0 || id >= len(t.idToToken) || !t.hasID[id] {
		return "", false
	}
	return t.idToToken[id], true
}

// BOS returns the id of the beginning-of-sequence token: bos_token of
// tokenizer_config.json, or else the special token the post_processor puts
// before the text.
func (t *Tokenizer) BOS() (int, bool) {
	if id, ok := t.roleID("bos_token"); ok {
		return id, true
	}
	if t.cfg.hasRole("bos_token") {
		return 0, false
	}
	for _, s := range t.post {
		if s.kind == postTemplate {
			if ids := s.template.leading(); len(ids) == 1 {
				return ids[0], true
			}
		}
	}
	return 0, false
}

// EOS returns the id of the end-of-sequence token (eos_token of
// tokenizer_config.json, or else a single special token the post_processor
// puts after the text).
func (t *Tokenizer) EOS() (int, bool) {
	if id, ok := t.roleID("eos_token"); ok {
		return id, true
	}
	if t.cfg.hasRole("eos_token") {
		return 0, false
	}
	for _, s := range t.post {
		if s.kind == postTemplate {
			if ids := s.template.trailing(); len(ids) == 1 {
				return ids[0], true
			}
		}
	}
	return 0, false
}

// PAD returns the id of pad_token (tokenizer_config.json). Like Python's
// transformers it does not fall back to EOS.
func (t *Tokenizer) PAD() (int, bool) { return t.roleID("pad_token") }

func (t *Tokenizer) roleID(role string) (int, bool) {
	content, ok := t.cfg.special[role]
	if !ok {
		return 0, false
	}
	return t.TokenID(content)
}

// IsSpecial reports whether id is a special token: an added token marked
// special or one listed in additional_special_tokens. Decode(ids, true) skips
// exactly these.
func (t *Tokenizer) IsSpecial(id int) bool {
	tok, ok := t.Token(id)
	return ok && t.special[tok]
}

// SpecialTokens maps the roles set in tokenizer_config.json or
// special_tokens_map.json ("bos_token", "eos_token", "unk_token",
// "pad_token", "sep_token", "cls_token", "mask_token") to their content, for
// chat templates.
func (t *Tokenizer) SpecialTokens() map[string]string {
	m := make(map[string]string, len(t.cfg.special))
	for k, v := range t.cfg.special {
		m[k] = v
	}
	return m
}

// ChatTemplate returns the Jinja chat template ("default" when there are
// several), or "" if there is none.
func (t *Tokenizer) ChatTemplate() string { return t.cfg.chatTemplate }

// ModelMaxLength returns tokenizer_config.json's model_max_length, or 0 when
// it is not set. Huge placeholders (1e30) become math.MaxInt.
func (t *Tokenizer) ModelMaxLength() int { return t.cfg.modelMaxLength }

// CleanUpTokenizationSpaces reports whether Decode removes the space before
// punctuation and contractions (" ." → "."), as tokenizer_config.json's
// clean_up_tokenization_spaces says; false when it is not set.
func (t *Tokenizer) CleanUpTokenizationSpaces() bool { return t.cfg.cleanUp }

// SetCleanUpTokenizationSpaces overrides clean_up_tokenization_spaces.
func (t *Tokenizer) SetCleanUpTokenizationSpaces(on bool) { t.cfg.cleanUp = on }

// AddedTokens returns a copy of the added tokens.
func (t *Tokenizer) AddedTokens() []AddedToken { return append([]AddedToken(nil), t.added...) }

// SetSpecialToken sets a role ("bos_token", "eos_token", "pad_token",
// "unk_token", "sep_token", "cls_token", "mask_token") to a token of the
// vocabulary; content "" removes the role.
func (t *Tokenizer) SetSpecialToken(role, content string) error {
	if !knownRole(role) {
		return fmt.Errorf("tokenizer: unknown special token role %q", role)
	}
	if content == "" {
		delete(t.cfg.special, role)
		return nil
	}
	if _, ok := t.combined[content]; !ok {
		return fmt.Errorf("tokenizer: %s %q is not in the vocabulary", role, content)
	}
	if t.cfg.special == nil {
		t.cfg.special = map[string]string{}
	}
	t.cfg.special[role] = content
	return nil
}

// SetChatTemplate sets the Jinja chat template written to tokenizer_config.json.
func (t *Tokenizer) SetChatTemplate(template string) { t.cfg.chatTemplate = template }

// SetAddBOS and SetAddEOS set add_bos_token and add_eos_token: whether
// EncodeSpecial adds BOS/EOS when the post_processor has no template.
func (t *Tokenizer) SetAddBOS(on bool) { t.cfg.addBOS = &on }

// SetAddEOS: see SetAddBOS.
func (t *Tokenizer) SetAddEOS(on bool) { t.cfg.addEOS = &on }

// Encode returns the ids of text without special tokens added (Hugging
// Face's add_special_tokens=False). Added tokens written in the text, such as
// "<|im_start|>", are matched and become their ids.
func (t *Tokenizer) Encode(text string) []int { return t.encode(text, false) }

// EncodeSpecial returns the ids of text with the special tokens the
// tokenizer adds (Hugging Face's tokenizer(text), add_special_tokens=True):
// the post_processor's template, or else BOS/EOS as add_bos_token and
// add_eos_token say.
func (t *Tokenizer) EncodeSpecial(text string) []int { return t.encode(text, true) }

// finish builds the lookup tables once vocab, added tokens and pipeline parts
// are set.
func (t *Tokenizer) finish(path string) error {
	m := &t.model
	maxID := -1
	for _, id := range m.vocab {
		if int(id) > maxID {
			maxID = int(id)
		}
	}
	for _, a := range t.added {
		if a.ID > maxID {
			maxID = a.ID
		}
	}
	t.idToToken = make([]string, maxID+1)
	t.hasID = make([]bool, maxID+1)
	t.combined = make(map[string]int, len(m.vocab)+len(t.added))
	for tok, id := range m.vocab {
		t.idToToken[id] = tok
		t.hasID[id] = true
		t.combined[tok] = int(id)
	}
	t.addedByContent = make(map[string]int, len(t.added))
	t.addedContent = make(map[string]bool, len(t.added))
	t.special = map[string]bool{}
	var raw, norm []string
	var rawSingle, normSingle []bool
	for i, a := range t.added {
		t.idToToken[a.ID] = a.Content
		t.hasID[a.ID] = true
		t.combined[a.Content] = a.ID
		t.addedByContent[a.Content] = i
		t.addedContent[a.Content] = true
		if a.Special {
			t.special[a.Content] = true
		}
		if a.Normalized && t.normalizer != nil {
			nc := t.normalizer.normalize(a.Content)
			t.addedByContent[nc] = i
			norm = append(norm, nc)
			normSingle = append(normSingle, a.SingleWord)
		} else {
			raw = append(raw, a.Content)
			rawSingle = append(rawSingle, a.SingleWord)
		}
	}
	t.splitRaw = newTrie(raw, rawSingle)
	t.splitNorm = newTrie(norm, normSingle)
	for _, s := range t.cfg.additionalSpecial {
		t.special[s] = true
	}
	if err := m.link(t); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for i := range t.post {
		if err := t.post[i].resolve(t); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	t.cache.init()
	return nil
}

// lookupFinal is how Hugging Face turns a token string into an id at the end
// of encoding: an added token (by content or normalized content) first, then
// the vocab.
func (t *Tokenizer) lookupFinal(tok string) (int, bool) {
	if i, ok := t.addedByContent[tok]; ok {
		return t.added[i].ID, true
	}
	id, ok := t.combined[tok]
	return id, ok
}

// sortedAdded returns the added tokens ordered by id.
func sortedAdded(added []AddedToken) []AddedToken {
	s := append([]AddedToken(nil), added...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].ID < s[j].ID })
	return s
}

// sanitize returns text with each maximal invalid UTF-8 sequence replaced by
// U+FFFD, as a browser's TextDecoder reads bytes.
func sanitize(text string) string {
	if utf8.ValidString(text) {
		return text
	}
	return decodeUTF8Lossy([]byte(text), false)
}
