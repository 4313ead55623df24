package qwen3_test

import (
	"fmt"
	"path/filepath"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/qwen3" // registers model_type qwen3
)

// Load a Qwen3 checkpoint, run a forward pass, and decode one more token
// with the key/value cache. The tiny reference model has head_dim 32,
// twice hidden_size / num_attention_heads, and its q/k norm weights are
// ordinary parameters.
func Example() {
	m, err := model.Load(filepath.Join(testref.ModelsDir(), "model", "qwen3"))
	if err != nil {
		panic(err)
	}
	info := m.Info()
	fmt.Println(info.ModelType, info.Layers, "layers, heads", info.Heads, "/", info.KVHeads, "of width", info.HeadDim)
	for _, p := range m.Params()[:8] {
		fmt.Println(p.Name, p.W.Shape)
	}
	logits, err := m.Forward([][]int{{1, 2, 3}})
	if err != nil {
		panic(err)
	}
	fmt.Println("logits", logits.Shape)
	dec := m.(model.Decoder)
	cache := dec.NewCache(1, 8)
	if _, err := dec.Step([][]int{{1, 2, 3}}, cache); err != nil {
		panic(err)
	}
	next, err := dec.Step([][]int{{4}}, cache)
	if err != nil {
		panic(err)
	}
	fmt.Println("step", next.Shape, "cached", cache.Len())
	// Output:
	// qwen3 2 layers, heads 4 / 2 of width 32
	// model.embed_tokens.weight [256 64]
	// model.layers.0.input_layernorm.weight [64]
	// model.layers.0.self_attn.q_proj.weight [128 64]
	// model.layers.0.self_attn.k_proj.weight [64 64]
	// model.layers.0.self_attn.v_proj.weight [64 64]
	// model.layers.0.self_attn.o_proj.weight [64 128]
	// model.layers.0.self_attn.q_norm.weight [32]
	// model.layers.0.self_attn.k_norm.weight [32]
	// logits [1 3 256]
	// step [1 1 256] cached 4
}
