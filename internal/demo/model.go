package demo

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// ModelSpec is the shape of the demo's base model (Llama architecture,
// tied embeddings).
type ModelSpec struct {
	Hidden, Layers, Heads, KVHeads, Intermediate, Vocab, Context int
}

// BaseModel is the demo base model's shape: about 0.4 M parameters.
var BaseModel = ModelSpec{Hidden: 96, Layers: 4, Heads: 4, KVHeads: 2, Intermediate: 256, Vocab: 384, Context: 128}

// WriteInitialModel writes a freshly initialised Llama model directory
// (config.json, model.safetensors) into dir: weights drawn from N(0, 0.02²)
// as transformers initialises Llama, output projections scaled by
// 1/√(2·layers) as GPT-2 does for its residual branches, norms at 1.
// bos and eos are the tokenizer's ids, recorded in config.json.
func WriteInitialModel(dir string, spec ModelSpec, bos, eos int, seed uint64) error {
	rng := tensor.NewRNG(seed)
	d, hd := spec.Hidden, spec.Hidden/spec.Heads
	var entries []safetensors.Entry
	add := func(name string, std float64, shape ...int) {
		t := rng.Randn(std, shape...)
		entries = append(entries, safetensors.Entry{Name: name, DType: safetensors.F32, Shape: shape, Float: t.Data})
	}
	ones := func(name string, n int) {
		t := tensor.New(n)
		for i := range t.Data {
			t.Data[i] = 1
		}
		entries = append(entries, safetensors.Entry{Name: name, DType: safetensors.F32, Shape: []int{n}, Float: t.Data})
	}
	const std = 0.02
	resid := std / math.Sqrt(2*float64(spec.Layers))
	add("model.embed_tokens.weight", std, spec.Vocab, d)
	for i := range spec.Layers {
		p := fmt.Sprintf("model.layers.%d.", i)
		ones(p+"input_layernorm.weight", d)
		ones(p+"post_attention_layernorm.weight", d)
		add(p+"self_attn.q_proj.weight", std, spec.Heads*hd, d)
		add(p+"self_attn.k_proj.weight", std, spec.KVHeads*hd, d)
		add(p+"self_attn.v_proj.weight", std, spec.KVHeads*hd, d)
		add(p+"self_attn.o_proj.weight", resid, d, spec.Heads*hd)
		add(p+"mlp.gate_proj.weight", std, spec.Intermediate, d)
		add(p+"mlp.up_proj.weight", std, spec.Intermediate, d)
		add(p+"mlp.down_proj.weight", resid, d, spec.Intermediate)
	}
	ones("model.norm.weight", d)
	cfg := map[string]any{
		"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama", "hidden_size": d,
		"intermediate_size": spec.Intermediate, "num_hidden_layers": spec.Layers, "num_attention_heads": spec.Heads,
		"num_key_value_heads": spec.KVHeads, "head_dim": hd, "vocab_size": spec.Vocab, "max_position_embeddings": spec.Context,
		"rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": true, "hidden_act": "silu",
		"bos_token_id": bos, "eos_token_id": eos, "torch_dtype": "float32", "attention_bias": false, "mlp_bias": false,
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return safetensors.Write(filepath.Join(dir, safetensors.SingleFileName), entries, map[string]string{"format": "pt"})
}
