package testmodel

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// Spec describes a tiny model. Zero fields take small defaults.
type Spec struct {
	ModelType     string // llama, mistral, qwen2 or gpt2
	Hidden        int
	Heads         int
	KVHeads       int
	Intermediate  int
	Layers        int
	Vocab         int
	Positions     int
	Tied          bool
	DType         safetensors.DType // on-disk float dtype, default F32
	Seed          uint64
	SlidingWindow int            // mistral only
	NoPrefix      bool           // gpt2: write names without "transformer."
	Extra         map[string]any // extra or overriding config.json fields
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
func Write(dir string, s Spec) (map[string]any, error) {
	s.defaults()
	rng := tensor.NewRNG(s.Seed + 1)
	var entries []safetensors.Entry
	add := func(name string, std float64, shape ...int) {
		if s.Std > 0 {
			std = s.Std
			if strings.HasSuffix(name, ".bias") {
				std = 0
			}
		}
		t := rng.Randn(std, shape...)
		entries = append(entries, safetensors.Entry{Name: name, DType: s.DType, Shape: shape, Float: t.Data})
	}
	ones := func(name string, shape ...int) {
		spread := 0.1
		if s.Std > 0 {
			spread = 0
		}
		t := rng.Randn(spread, shape...)
		for i := range t.Data {
			t.Data[i] += 1
		}
		entries = append(entries, safetensors.Entry{Name: name, DType: s.DType, Shape: shape, Float: t.Data})
	}
	var cfg map[string]any
	d, hd := s.Hidden, s.Hidden/s.Heads
	switch s.ModelType {
	case "llama", "mistral", "qwen2":
		cfg = map[string]any{
			"model_type": s.ModelType, "hidden_size": d, "intermediate_size": s.Intermediate,
			"num_hidden_layers": s.Layers, "num_attention_heads": s.Heads, "num_key_value_heads": s.KVHeads,
			"vocab_size": s.Vocab, "max_position_embeddings": s.Positions, "rms_norm_eps": 1e-6,
			"rope_theta": 10000.0, "tie_word_embeddings": s.Tied, "hidden_act": "silu",
		}
		if s.ModelType == "mistral" && s.SlidingWindow > 0 {
			cfg["sliding_window"] = s.SlidingWindow
		}
		add("model.embed_tokens.weight", 0.5, s.Vocab, d)
		for i := 0; i < s.Layers; i++ {
			p := fmt.Sprintf("model.layers.%d.", i)
			ones(p+"input_layernorm.weight", d)
			ones(p+"post_attention_layernorm.weight", d)
			for _, lin := range []struct {
				name    string
				out, in int
			}{{"self_attn.q_proj", s.Heads * hd, d}, {"self_attn.k_proj", s.KVHeads * hd, d}, {"self_attn.v_proj", s.KVHeads * hd, d},
				{"self_attn.o_proj", d, s.Heads * hd}, {"mlp.gate_proj", s.Intermediate, d}, {"mlp.up_proj", s.Intermediate, d},
				{"mlp.down_proj", d, s.Intermediate}} {
				add(p+lin.name+".weight", 0.3, lin.out, lin.in)
				if s.ModelType == "qwen2" && (lin.name == "self_attn.q_proj" || lin.name == "self_attn.k_proj" || lin.name == "self_attn.v_proj") {
					add(p+lin.name+".bias", 0.3, lin.out)
				}
			}
		}
		ones("model.norm.weight", d)
		if !s.Tied {
			add("lm_head.weight", 0.3, s.Vocab, d)
		}
	case "gpt2":
		cfg = map[string]any{
			"model_type": "gpt2", "n_embd": d, "n_head": s.Heads, "n_layer": s.Layers, "n_positions": s.Positions,
			"vocab_size": s.Vocab, "n_inner": s.Intermediate, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
		}
		p := "transformer."
		if s.NoPrefix {
			p = ""
		}
		add(p+"wte.weight", 0.5, s.Vocab, d)
		add(p+"wpe.weight", 0.2, s.Positions, d)
		for i := 0; i < s.Layers; i++ {
			h := fmt.Sprintf("%sh.%d.", p, i)
			for _, ln := range []string{"ln_1", "ln_2"} {
				ones(h+ln+".weight", d)
				add(h+ln+".bias", 0.1, d)
			}
			for _, c := range []struct {
				name    string
				in, out int
			}{{"attn.c_attn", d, 3 * d}, {"attn.c_proj", d, d}, {"mlp.c_fc", d, s.Intermediate}, {"mlp.c_proj", s.Intermediate, d}} {
				add(h+c.name+".weight", 0.3, c.in, c.out)
				add(h+c.name+".bias", 0.1, c.out)
			}
			if s.NoPrefix { // original OpenAI files carry the causal mask buffer
				mask := make([]float32, s.Positions*s.Positions)
				entries = append(entries, safetensors.Entry{Name: h + "attn.bias", DType: s.DType, Shape: []int{1, 1, s.Positions, s.Positions}, Float: mask})
			}
		}
		ones(p+"ln_f.weight", d)
		add(p+"ln_f.bias", 0.1, d)
	default:
		return nil, fmt.Errorf("testmodel: unknown model type %q", s.ModelType)
	}
	for k, v := range s.Extra {
		if v == nil {
			delete(cfg, k)
		} else {
			cfg[k] = v
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		return nil, err
	}
	return cfg, safetensors.Write(filepath.Join(dir, "model.safetensors"), entries, map[string]string{"format": "pt"})
}
