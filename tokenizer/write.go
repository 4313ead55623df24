package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/orthotune/orthotune/internal/atomicfile"
)

// The pipeline of a GPT-2-style byte-level BPE tokenizer.
const (
	byteLevelPreTokenizer  = `{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}`
	byteLevelPostProcessor = `{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":false,"use_regex":true}`
	byteLevelDecoderJSON   = `{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true}`
)

// NewByteLevelBPE builds a GPT-2-style byte-level BPE tokenizer (ByteLevel
// pre-tokenizer with GPT-2's regex, ByteLevel decoder) from a vocab whose
// tokens are written in GPT-2's byte characters ("Ġthe"), ranked merges and
// added tokens. Every merge's two tokens and their concatenation must be in
// vocab.
func NewByteLevelBPE(vocab map[string]int, merges [][2]string, added []AddedToken) (*Tokenizer, error) {
	var b bytes.Buffer
	b.WriteString(`{"version":"1.0","truncation":null,"padding":null,"added_tokens":`)
	b.Write(mustJSON(addedJSON(added)))
	b.WriteString(`,"normalizer":null,"pre_tokenizer":` + byteLevelPreTokenizer)
	b.WriteString(`,"post_processor":` + byteLevelPostProcessor)
	b.WriteString(`,"decoder":` + byteLevelDecoderJSON)
	b.WriteString(`,"model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,"end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,"ignore_merges":false,"vocab":`)
	b.Write(mustJSON(vocab))
	b.WriteString(`,"merges":`)
	pairs := make([][]string, len(merges))
	for i, m := range merges {
		pairs[i] = []string{m[0], m[1]}
	}
	b.Write(mustJSON(pairs))
	b.WriteString("}}")
	return parse(b.Bytes(), "NewByteLevelBPE")
}

type addedTokenJSON struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

func addedJSON(added []AddedToken) []addedTokenJSON {
	out := make([]addedTokenJSON, 0, len(added))
	for _, a := range sortedAdded(added) {
		out = append(out, addedTokenJSON(a))
	}
	return out
}

// mustJSON marshals values that cannot fail (strings, maps of strings,
// plain structs) without HTML escaping.
func mustJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // unreachable for the types used here
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// MarshalJSON writes the tokenizer as a Hugging Face tokenizer.json: the
// model (vocab ordered by id, merges in rank order), the added tokens and
// the pipeline parts as they were read.
func (t *Tokenizer) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	m := &t.model
	b.WriteString("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [")
	for i, a := range addedJSON(t.added) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n    ")
		b.Write(mustJSON(a))
	}
	if len(t.added) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("],\n")
	for _, p := range []struct {
		key string
		raw json.RawMessage
	}{
		{"normalizer", t.raw.normalizer},
		{"pre_tokenizer", t.raw.preTokenizer},
		{"post_processor", t.raw.postProcessor},
		{"decoder", t.raw.decoder},
	} {
		raw := p.raw
		if len(raw) == 0 {
			raw = json.RawMessage("null")
		}
		fmt.Fprintf(&b, "  %q: %s,\n", p.key, raw)
	}
	b.WriteString("  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": ")
	if m.unkToken != nil {
		b.Write(mustJSON(*m.unkToken))
	} else {
		b.WriteString("null")
	}
	fmt.Fprintf(&b, ",\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": %t,\n    \"byte_fallback\": %t,\n    \"ignore_merges\": %t,\n    \"vocab\": {",
		m.fuseUnk, m.byteFallback, m.ignoreMerges)
	type entry struct {
		tok string
		id  int32
	}
	entries := make([]entry, 0, len(m.vocab))
	for tok, id := range m.vocab {
		entries = append(entries, entry{tok, id})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].id < entries[j].id })
	for i, e := range entries {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n      ")
		b.Write(mustJSON(e.tok))
		fmt.Fprintf(&b, ": %d", e.id)
	}
	b.WriteString("\n    },\n    \"merges\": [")
	byID := make([]string, 0)
	if len(m.mergeList) > 0 {
		byID = make([]string, len(t.idToToken))
		for _, e := range entries {
			byID[e.id] = e.tok
		}
	}
	// The "a b" form is read by every version of Hugging Face's libraries;
	// pairs are needed when a token contains a space.
	pairs := false
	for _, mg := range m.mergeList {
		if strings.Contains(byID[mg[0]], " ") || strings.Contains(byID[mg[1]], " ") {
			pairs = true
			break
		}
	}
	for i, mg := range m.mergeList {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n      ")
		if pairs {
			b.Write(mustJSON([]string{byID[mg[0]], byID[mg[1]]}))
		} else {
			b.Write(mustJSON(byID[mg[0]] + " " + byID[mg[1]]))
		}
	}
	b.WriteString("\n    ]\n  }\n}\n")
	return b.Bytes(), nil
}

// configJSON writes tokenizer_config.json: the special token roles,
// add_bos_token/add_eos_token, clean_up_tokenization_spaces,
// model_max_length and the chat template.
func (t *Tokenizer) configJSON() []byte {
	var b bytes.Buffer
	b.WriteString("{\n")
	field := func(k string, v any) {
		b.WriteString("  ")
		b.Write(mustJSON(k))
		b.WriteString(": ")
		b.Write(mustJSON(v))
		b.WriteString(",\n")
	}
	class := t.cfg.tokenizerClass
	if class == "" {
		class = "PreTrainedTokenizerFast"
	}
	field("tokenizer_class", class)
	for _, role := range roles {
		if v, ok := t.cfg.special[role]; ok {
			field(role, v)
		}
	}
	if len(t.cfg.additionalSpecial) > 0 {
		field("additional_special_tokens", t.cfg.additionalSpecial)
	}
	if t.cfg.addBOS != nil {
		field("add_bos_token", *t.cfg.addBOS)
	}
	if t.cfg.addEOS != nil {
		field("add_eos_token", *t.cfg.addEOS)
	}
	if t.cfg.modelMaxLength > 0 && t.cfg.modelMaxLength < 1<<53 {
		field("model_max_length", t.cfg.modelMaxLength)
	}
	if t.cfg.chatTemplate != "" {
		field("chat_template", t.cfg.chatTemplate)
	}
	b.WriteString("  \"clean_up_tokenization_spaces\": ")
	b.Write(mustJSON(t.cfg.cleanUp))
	b.WriteString("\n}\n")
	return b.Bytes()
}

// WriteFile writes dir/tokenizer.json and dir/tokenizer_config.json (the
// directory is created if needed), each atomically.
func (t *Tokenizer) WriteFile(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	data, err := t.MarshalJSON()
	if err != nil {
		return err
	}
	write := func(name string, data []byte) error {
		path := filepath.Join(dir, name)
		if err := atomicfile.Write(path, func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		}); err != nil {
			return fmt.Errorf("tokenizer: writing %s: %w", path, err)
		}
		return nil
	}
	if err := write("tokenizer.json", data); err != nil {
		return err
	}
	return write("tokenizer_config.json", t.configJSON())
}
