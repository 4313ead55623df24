package export

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/tokenizer"
)

// Token types of tokenizer.ggml.token_type (llama.cpp's llama_token_type).
const (
	tokenNormal      int32 = 1
	tokenUnknown     int32 = 2
	tokenControl     int32 = 3
	tokenUserDefined int32 = 4
	tokenUnused      int32 = 5
	tokenByte        int32 = 6
)

// Pre-tokenizer regexes llama.cpp implements under a name.
const (
	regexQwen2  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	regexLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// vocab is what GGUF needs of a tokenizer: tokenizer.json's raw model and
// the loaded tokenizer for special tokens, flags and the chat template.
type vocab struct {
	path  string // tokenizer.json
	kind  string // tokenizer.ggml.model: "gpt2" or "llama"
	pre   string // tokenizer.ggml.pre
	tok   *tokenizer.Tokenizer
	byID  map[int]string
	added map[int]tokenizer.AddedToken
	ranks map[string]int // merged token → merge rank
	merge []string       // "a b", rank order
	unk   string
	// spacePrefix: the SentencePiece-style normalizer or pre-tokenizer puts
	// "▁" before the text (Llama 2, Mistral; not Gemma 3).
	spacePrefix bool
}

type tokenizerJSON struct {
	Model struct {
		Type         string          `json:"type"`
		Vocab        map[string]int  `json:"vocab"`
		Merges       json.RawMessage `json:"merges"`
		ByteFallback bool            `json:"byte_fallback"`
		UnkToken     *string         `json:"unk_token"`
	} `json:"model"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Normalizer   json.RawMessage `json:"normalizer"`
}

type preTok struct {
	Type          string   `json:"type"`
	Pretokenizers []preTok `json:"pretokenizers"`
	Pattern       struct {
		Regex  *string `json:"Regex"`
		String *string `json:"String"`
	} `json:"pattern"`
	UseRegex         *bool `json:"use_regex"`
	IndividualDigits bool  `json:"individual_digits"`
}

// readVocab reads dir's tokenizer and decides how llama.cpp is to see it.
func readVocab(dir string) (*vocab, error) {
	path := filepath.Join(dir, "tokenizer.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("export: %s: the GGUF file needs the model's tokenizer: %w", dir, err)
	}
	var tj tokenizerJSON
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, fmt.Errorf("export: %s: %w", path, err)
	}
	if tj.Model.Type != "BPE" {
		return nil, fmt.Errorf("export: %s: field \"model.type\" = %q: llama.cpp's vocabularies orthotune exports are BPE (byte-level, or SentencePiece-style with byte fallback)", path, tj.Model.Type)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	v := &vocab{path: path, tok: tok, byID: map[int]string{}, added: map[int]tokenizer.AddedToken{}, ranks: map[string]int{}}
	for s, id := range tj.Model.Vocab {
		v.byID[id] = s
	}
	for _, a := range tok.AddedTokens() {
		v.added[a.ID] = a
		v.byID[a.ID] = a.Content
	}
	if tj.Model.UnkToken != nil {
		v.unk = *tj.Model.UnkToken
	}
	if v.merge, err = parseMerges(tj.Model.Merges); err != nil {
		return nil, fmt.Errorf("export: %s: field \"model.merges\": %w", path, err)
	}
	for r, m := range v.merge {
		merged := strings.Replace(m, " ", "", 1)
		if _, seen := v.ranks[merged]; !seen {
			v.ranks[merged] = r
		}
	}
	var pre *preTok
	if len(tj.PreTokenizer) > 0 && string(tj.PreTokenizer) != "null" {
		pre = &preTok{}
		if err := json.Unmarshal(tj.PreTokenizer, pre); err != nil {
			return nil, fmt.Errorf("export: %s: field \"pre_tokenizer\": %w", path, err)
		}
	}
	if tj.Model.ByteFallback {
		v.kind, v.pre = "llama", "default"
		v.spacePrefix = prependsSpace(tj.Normalizer) || prependsSpace(tj.PreTokenizer)
		return v, nil
	}
	v.kind = "gpt2"
	if v.pre, err = preName(pre); err != nil {
		return nil, fmt.Errorf("export: %s: field \"pre_tokenizer\": %w", path, err)
	}
	return v, nil
}

// prependsSpace reports whether a normalizer or pre-tokenizer (a Sequence
// of them, at any depth) puts "▁" before the text: Prepend("▁"), or
// Metaspace with prepend_scheme first or always (add_prefix_space in older
// files).
func prependsSpace(raw json.RawMessage) bool {
	if len(raw) == 0 || string(raw) == "null" {
		return false
	}
	var n struct {
		Type           string            `json:"type"`
		Prepend        string            `json:"prepend"`
		PrependScheme  string            `json:"prepend_scheme"`
		AddPrefixSpace *bool             `json:"add_prefix_space"`
		Normalizers    []json.RawMessage `json:"normalizers"`
		Pretokenizers  []json.RawMessage `json:"pretokenizers"`
	}
	if json.Unmarshal(raw, &n) != nil {
		return false
	}
	switch n.Type {
	case "Prepend":
		return n.Prepend == "▁"
	case "Metaspace":
		if n.PrependScheme != "" {
			return n.PrependScheme == "first" || n.PrependScheme == "always"
		}
		return n.AddPrefixSpace == nil || *n.AddPrefixSpace
	case "Sequence":
		for _, c := range append(n.Normalizers, n.Pretokenizers...) {
			if prependsSpace(c) {
				return true
			}
		}
	}
	return false
}

// preName names a byte-level pre-tokenizer as llama.cpp does (see the
// package documentation).
func preName(p *preTok) (string, error) {
	if p == nil {
		return "", fmt.Errorf("absent: a byte-level BPE needs a ByteLevel pre-tokenizer")
	}
	steps := []preTok{*p}
	if p.Type == "Sequence" {
		steps = p.Pretokenizers
	}
	var desc []string
	for _, s := range steps {
		switch {
		case s.Type == "ByteLevel" && (s.UseRegex == nil || *s.UseRegex):
			desc = append(desc, "ByteLevel+regex")
		case s.Type == "ByteLevel":
			desc = append(desc, "ByteLevel")
		case s.Type == "Split" && s.Pattern.Regex != nil && *s.Pattern.Regex == regexQwen2:
			desc = append(desc, "Split(qwen2)")
		case s.Type == "Split" && s.Pattern.Regex != nil && *s.Pattern.Regex == regexLlama3:
			desc = append(desc, "Split(llama3)")
		case s.Type == "Digits" && s.IndividualDigits:
			desc = append(desc, "Digits")
		default:
			desc = append(desc, s.Type+"(?)")
		}
	}
	switch strings.Join(desc, " ") {
	case "ByteLevel+regex":
		return "gpt-2", nil
	case "Split(qwen2) ByteLevel":
		return "qwen2", nil
	case "Split(llama3) ByteLevel":
		return "llama-bpe", nil
	case "Digits ByteLevel+regex":
		return "smollm", nil
	}
	return "", fmt.Errorf("%s is not a pre-tokenizer llama.cpp names (known: ByteLevel = gpt-2, Split(Qwen2 regex)+ByteLevel = qwen2, Split(Llama 3 regex)+ByteLevel = llama-bpe, Digits+ByteLevel = smollm)", strings.Join(desc, " + "))
}

// parseMerges reads merges as "a b" strings or [a, b] pairs.
func parseMerges(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		return strs, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, err
	}
	out := make([]string, len(pairs))
	for i, p := range pairs {
		if strings.Contains(p[0], " ") || strings.Contains(p[1], " ") {
			return nil, fmt.Errorf("merge %d %q contains a space, which llama.cpp's merges cannot hold", i, p)
		}
		out[i] = p[0] + " " + p[1]
	}
	return out, nil
}

// looksSpecial is the converter's rule for added tokens that are control
// tokens although not marked special.
func looksSpecial(s string) bool {
	switch s {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return (strings.HasPrefix(s, "<|") && strings.HasSuffix(s, "|>")) ||
		(strings.HasPrefix(s, "<｜") && strings.HasSuffix(s, "｜>"))
}

func isByteToken(s string) bool {
	return len(s) == 6 && strings.HasPrefix(s, "<0x") && s[5] == '>' && strings.IndexFunc(s[3:5], func(r rune) bool {
		return !strings.ContainsRune("0123456789ABCDEF", r)
	}) < 0
}

// metadata adds the tokenizer.* pairs for a model of n token ids.
func (v *vocab) metadata(p *plan, n int, cfg *model.Config, dir string) error {
	if size := v.tok.VocabSize(); size > n {
		return fmt.Errorf("export: %s: the tokenizer has ids up to %d but config.json's vocab_size is %d", dir, size-1, n)
	}
	tokens := make([]string, n)
	types := make([]int32, n)
	var scores []float32
	if v.kind == "llama" {
		scores = make([]float32, n)
	}
	for id := 0; id < n; id++ {
		s, ok := v.byID[id]
		if !ok {
			tokens[id], types[id] = fmt.Sprintf("[PAD%d]", id), tokenUnused
			continue
		}
		tokens[id] = s
		a, isAdded := v.added[id]
		switch {
		case isAdded && (a.Special || looksSpecial(s)):
			types[id] = tokenControl
		case isAdded:
			types[id] = tokenUserDefined
		case v.kind == "llama" && s == v.unk:
			types[id] = tokenUnknown
		case v.kind == "llama" && isByteToken(s):
			types[id] = tokenByte
		default:
			types[id] = tokenNormal
		}
		if s == v.unk && isAdded {
			types[id] = tokenUnknown
		}
		if scores != nil {
			// SentencePiece BPE merges the pair whose result scores
			// highest: the merge rank, negated.
			if r, ok := v.ranks[s]; ok && !isAdded {
				scores[id] = float32(-r)
			}
		}
	}
	p.kv("tokenizer.ggml.model", v.kind)
	p.kv("tokenizer.ggml.pre", v.pre)
	p.kv("tokenizer.ggml.tokens", tokens)
	if scores != nil {
		p.kv("tokenizer.ggml.scores", scores)
	}
	p.kv("tokenizer.ggml.token_type", types)
	if v.kind == "gpt2" {
		p.kv("tokenizer.ggml.merges", v.merge)
	} else {
		p.kv("tokenizer.ggml.add_space_prefix", v.spacePrefix)
	}
	ids := v.specialIDs(cfg)
	for _, role := range []string{"bos", "eos", "unknown", "padding"} {
		if id, ok := ids[role]; ok && id >= 0 && id < n {
			p.kv("tokenizer.ggml."+role+"_token_id", uint32(id))
		}
	}
	addBOS, addEOS := v.addFlags(ids)
	p.kv("tokenizer.ggml.add_bos_token", addBOS)
	p.kv("tokenizer.ggml.add_eos_token", addEOS)
	if t := v.tok.ChatTemplate(); t != "" {
		p.kv("tokenizer.chat_template", t)
	}
	return nil
}

// specialIDs are the bos, eos, unknown and padding ids: the tokenizer's,
// or else config.json's bos_token_id, eos_token_id and pad_token_id.
func (v *vocab) specialIDs(cfg *model.Config) map[string]int {
	ids := map[string]int{}
	if id, ok := v.tok.BOS(); ok {
		ids["bos"] = id
	}
	if id, ok := v.tok.EOS(); ok {
		ids["eos"] = id
	}
	if id, ok := v.tok.PAD(); ok {
		ids["padding"] = id
	}
	if v.unk != "" {
		if id, ok := v.tok.TokenID(v.unk); ok {
			ids["unknown"] = id
		}
	}
	for role, field := range map[string]string{"bos": "bos_token_id", "eos": "eos_token_id", "padding": "pad_token_id"} {
		if _, ok := ids[role]; ok || cfg == nil {
			continue
		}
		if id, err := cfg.Int(field); err == nil {
			ids[role] = id
		}
	}
	return ids
}

// addFlags reports whether encoding with special tokens adds BOS in front
// and EOS at the end, as Hugging Face's tokenizer(text) does.
func (v *vocab) addFlags(ids map[string]int) (bos, eos bool) {
	const probe = "a"
	plain, full := v.tok.Encode(probe), v.tok.EncodeSpecial(probe)
	if len(full) <= len(plain) {
		return false, false
	}
	if id, ok := ids["bos"]; ok && full[0] == id && (len(plain) == 0 || plain[0] != id) {
		bos = true
	}
	if id, ok := ids["eos"]; ok && full[len(full)-1] == id && (len(plain) == 0 || plain[len(plain)-1] != id) {
		eos = true
	}
	return bos, eos
}
