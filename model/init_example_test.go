package model_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/llama" // registers llama, mistral, qwen2
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// Build a small Llama from its config with freshly drawn weights (as
// transformers initialises one: N(0, 0.02²), norms at 1), run it, and save
// it as a model directory that Load reads back.
func ExampleNewInitialized() {
	cfg, err := model.ParseConfig("config.json", []byte(`{
  "model_type": "llama", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 64,
  "max_position_embeddings": 128, "tie_word_embeddings": true
}`))
	if err != nil {
		panic(err)
	}
	m, err := model.NewInitialized(cfg, model.NormalInit(0.02, tensor.NewRNG(1)))
	if err != nil {
		panic(err)
	}
	info := m.Info()
	fmt.Println(info.ModelType, info.Layers, "layers,", info.Parameters, "parameters,", len(m.Params()), "weights")
	logits, err := m.Forward([][]int{{1, 2, 3}})
	if err != nil {
		panic(err)
	}
	fmt.Println("logits", logits.Shape)

	dir, err := os.MkdirTemp("", "init")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	if err := model.WriteInitialized(filepath.Join(dir, "llama"), cfg, m, safetensors.BF16); err != nil {
		panic(err)
	}
	loaded, err := model.Load(filepath.Join(dir, "llama"))
	if err != nil {
		panic(err)
	}
	fmt.Println("loaded", loaded.Info().Parameters, "parameters,", loaded.Info().CheckpointDTypes)
	// Output:
	// llama 2 layers, 5712 parameters, 20 weights
	// logits [1 3 64]
	// loaded 5712 parameters, map[BF16:20]
}
