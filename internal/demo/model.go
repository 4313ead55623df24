package demo

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/llama" // registers the builder
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
// (config.json, model.safetensors) into dir, created if needed: the model is
// built by model.NewInitialized through the Llama builder, weights drawn
// from N(0, 0.02²) in the order the builder asks for them, as transformers
// initialises Llama, the residual branches' output projections (o_proj,
// down_proj) scaled by 1/√(2·layers) as GPT-2 does, norms at 1. bos and eos
// are the tokenizer's ids, recorded in config.json. The same arguments
// always write the same bytes.
func WriteInitialModel(dir string, spec ModelSpec, bos, eos int, seed uint64) error {
	d, hd := spec.Hidden, spec.Hidden/spec.Heads
	b, err := json.MarshalIndent(map[string]any{
		"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama", "hidden_size": d,
		"intermediate_size": spec.Intermediate, "num_hidden_layers": spec.Layers, "num_attention_heads": spec.Heads,
		"num_key_value_heads": spec.KVHeads, "head_dim": hd, "vocab_size": spec.Vocab, "max_position_embeddings": spec.Context,
		"rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": true, "hidden_act": "silu",
		"bos_token_id": bos, "eos_token_id": eos, "torch_dtype": "float32", "attention_bias": false, "mlp_bias": false,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	cfg, err := model.ParseConfig(filepath.Join(dir, "config.json"), append(b, '\n'))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	m, err := model.NewInitialized(cfg, initLlama(spec.Layers, tensor.NewRNG(seed)))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return model.WriteInitialized(dir, cfg, m, safetensors.F32)
}

// initLlama is transformers' Llama initialisation (std 0.02) with GPT-2's
// scaling of the residual branches' output projections, drawing from rng.
func initLlama(layers int, rng *tensor.RNG) model.InitFunc {
	const std = 0.02
	normal := model.NormalInit(std, rng)
	resid := model.NormalInit(std/math.Sqrt(2*float64(layers)), rng)
	return func(name string, shape []int) []float32 {
		if strings.HasSuffix(name, ".o_proj.weight") || strings.HasSuffix(name, ".down_proj.weight") {
			return resid(name, shape)
		}
		return normal(name, shape)
	}
}
