package testmodel

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/gemma3" // registers gemma3_text
	_ "github.com/orthotune/orthotune/model/gpt2"   // registers gpt2
	_ "github.com/orthotune/orthotune/model/llama"  // registers llama, mistral, qwen2
	_ "github.com/orthotune/orthotune/model/qwen3"  // registers qwen3
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// Spec describes a tiny model. Zero fields take small defaults.
type Spec struct {
	ModelType     string // llama, mistral, qwen2, qwen3, gemma3_text or gpt2
	Hidden        int
	Heads         int
	HeadDim       int // qwen3's and gemma3_text's head_dim (≠ Hidden/Heads by default: qwen3 8, gemma3_text 3·Hidden/(2·Heads) rounded to even)
	KVHeads       int
	Intermediate  int
	Layers        int
	Vocab         int
	Positions     int
	Tied          bool
	DType         safetensors.DType // on-disk float dtype, default F32
	Seed          uint64
	SlidingWindow int            // mistral; gemma3_text's sliding layers (default 4)
	AttentionBias bool           // llama, qwen3: attention_bias (q, k, v and o_proj biases)
	NoPrefix      bool           // gpt2: write names without "transformer."
	Extra         map[string]any // extra or overriding config.json fields (nil deletes); the weights ignore them
	// Std > 0 draws every weight from N(0, Std²) with norm weights 1 and
	// biases 0, as a freshly initialised model (benchmarks); the default
	// draws larger, varied values that make tests sensitive.
	Std float64
}

func (s *Spec) defaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&s.Hidden, 16)
	def(&s.Heads, 4)
	def(&s.KVHeads, s.Heads)
	def(&s.Intermediate, 24)
	def(&s.Layers, 2)
	def(&s.Vocab, 32)
	def(&s.Positions, 64)
	if s.DType == "" {
		s.DType = safetensors.F32
	}
}

// Write creates dir (if needed) and writes config.json and model.safetensors.
// It returns the config it wrote.
//
// The weights come from model.NewInitialized on the config Spec describes,
// drawn in the order the architecture's builder asks for them (see initFunc),
// and are written by model.WriteInitialized. Extra is applied to config.json
// afterwards, so it can also describe a config that no longer matches its
// checkpoint (a missing field, another shape, an unknown model_type).
func Write(dir string, s Spec) (map[string]any, error) {
	s.defaults()
	var cfg map[string]any
	switch s.ModelType {
	case "llama", "mistral", "qwen2":
		cfg = map[string]any{
			"model_type": s.ModelType, "hidden_size": s.Hidden, "intermediate_size": s.Intermediate,
			"num_hidden_layers": s.Layers, "num_attention_heads": s.Heads, "num_key_value_heads": s.KVHeads,
			"vocab_size": s.Vocab, "max_position_embeddings": s.Positions, "rms_norm_eps": 1e-6,
			"rope_theta": 10000.0, "tie_word_embeddings": s.Tied, "hidden_act": "silu",
		}
		if s.AttentionBias && s.ModelType == "llama" {
			cfg["attention_bias"] = true
		}
		if s.ModelType == "mistral" && s.SlidingWindow > 0 {
			cfg["sliding_window"] = s.SlidingWindow
		}
	case "qwen3":
		if s.HeadDim == 0 {
			s.HeadDim = 8
		}
		cfg = map[string]any{
			"model_type": "qwen3", "hidden_size": s.Hidden, "intermediate_size": s.Intermediate,
			"num_hidden_layers": s.Layers, "num_attention_heads": s.Heads, "num_key_value_heads": s.KVHeads,
			"head_dim": s.HeadDim, "vocab_size": s.Vocab, "max_position_embeddings": s.Positions, "rms_norm_eps": 1e-6,
			"rope_theta": 10000.0, "tie_word_embeddings": s.Tied, "hidden_act": "silu", "attention_bias": s.AttentionBias,
		}
	case "gemma3_text":
		if s.HeadDim == 0 {
			s.HeadDim = max(2, 3*s.Hidden/(2*s.Heads)/2*2) // ≠ hidden/heads, as in Gemma 3
		}
		if s.SlidingWindow == 0 {
			s.SlidingWindow = 4
		}
		cfg = map[string]any{
			"model_type": s.ModelType, "hidden_size": s.Hidden, "intermediate_size": s.Intermediate,
			"num_hidden_layers": s.Layers, "num_attention_heads": s.Heads, "num_key_value_heads": s.KVHeads,
			"head_dim": s.HeadDim, "vocab_size": s.Vocab, "max_position_embeddings": s.Positions, "rms_norm_eps": 1e-6,
			"rope_theta": 1000000.0, "rope_local_base_freq": 10000.0, "tie_word_embeddings": s.Tied,
			"hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": s.HeadDim + 8,
			"sliding_window": s.SlidingWindow, "sliding_window_pattern": 2, "pad_token_id": 0,
		}
	case "gpt2":
		cfg = map[string]any{
			"model_type": "gpt2", "n_embd": s.Hidden, "n_head": s.Heads, "n_layer": s.Layers, "n_positions": s.Positions,
			"vocab_size": s.Vocab, "n_inner": s.Intermediate, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
		}
	default:
		return nil, fmt.Errorf("testmodel: unknown model type %q", s.ModelType)
	}
	base, err := parse(dir, cfg)
	if err != nil {
		return nil, err
	}
	m, err := model.NewInitialized(base, initFunc(s))
	if err != nil {
		return nil, fmt.Errorf("testmodel: %w", err)
	}
	for k, v := range s.Extra {
		if v == nil {
			delete(cfg, k)
		} else {
			cfg[k] = v
		}
	}
	final, err := parse(dir, cfg)
	if err != nil {
		return nil, err
	}
	if err := model.WriteInitialized(dir, final, m, s.DType); err != nil {
		return nil, fmt.Errorf("testmodel: %w", err)
	}
	if s.ModelType == "gpt2" && s.NoPrefix {
		if err := stripPrefix(dir, s, m); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// parse encodes cfg as config.json is written and parses it back.
func parse(dir string, cfg map[string]any) (*model.Config, error) {
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("testmodel: %w", err)
	}
	c, err := model.ParseConfig(filepath.Join(dir, "config.json"), data)
	if err != nil {
		return nil, fmt.Errorf("testmodel: %w", err)
	}
	return c, nil
}

// initFunc returns the InitFunc Write draws s's weights with, from
// tensor.NewRNG(s.Seed+1). With Std > 0 it is model.NormalInit(Std). Else
// every weight is drawn from a normal distribution whose spread depends on
// its role: token embeddings 0.5, GPT-2's position embeddings 0.2, other
// matrices 0.3, biases 0.1 (0.3 for Llama-family ones, Qwen2's q/k/v),
// and norm weights (the other one-dimensional weights) 1 + N(0, 0.1²) —
// N(0, 0.1²) for gemma3_text, whose norm weights are offsets from 1.
func initFunc(s Spec) model.InitFunc {
	rng := tensor.NewRNG(s.Seed + 1)
	if s.Std > 0 {
		return model.NormalInit(s.Std, rng)
	}
	biasStd := 0.3
	if s.ModelType == "gpt2" {
		biasStd = 0.1
	}
	return func(name string, shape []int) []float32 {
		std := 0.3
		switch {
		case strings.HasSuffix(name, ".bias"):
			std = biasStd
		case len(shape) == 1:
			t := rng.Randn(0.1, shape...)
			if s.ModelType != "gemma3_text" {
				for i := range t.Data {
					t.Data[i] += 1
				}
			}
			return t.Data
		case strings.HasSuffix(name, "embed_tokens.weight"), strings.HasSuffix(name, "wte.weight"):
			std = 0.5
		case strings.HasSuffix(name, "wpe.weight"):
			std = 0.2
		}
		return rng.Randn(std, shape...).Data
	}
}

// stripPrefix rewrites dir's GPT-2 checkpoint as the original OpenAI
// conversions store it: m's weights under names without "transformer.",
// and each block's causal mask buffer (attn.bias, which the loader skips).
func stripPrefix(dir string, s Spec, m model.CausalLM) error {
	var entries []safetensors.Entry
	for _, p := range m.Params() {
		entries = append(entries, safetensors.Entry{Name: strings.TrimPrefix(p.Name, "transformer."), DType: s.DType, Shape: p.W.Shape, Float: p.W.Data})
	}
	for i := range s.Layers {
		mask := make([]float32, s.Positions*s.Positions)
		entries = append(entries, safetensors.Entry{Name: fmt.Sprintf("h.%d.attn.bias", i), DType: s.DType, Shape: []int{1, 1, s.Positions, s.Positions}, Float: mask})
	}
	if err := safetensors.Write(filepath.Join(dir, safetensors.SingleFileName), entries, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	return nil
}
