package boft_test

import (
	"fmt"
	"path/filepath"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/llama"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/boft"
	"github.com/orthotune/orthotune/tensor"
)

// Attach a fresh BOFT adapter (identity-initialised: exactly the base
// model) to the attention projections, with blocks of 8 and two butterfly
// factors.
func ExampleNewConfig() {
	base, err := model.Load(filepath.Join(testref.Dir(), "model", "llama"))
	if err != nil {
		panic(err)
	}
	cfg := boft.NewConfig(peft.Names("q_proj", "v_proj"))
	cfg.BlockSize = 8
	cfg.Factors = 2
	pm := peft.Wrap(base)
	a, err := pm.Add("default", cfg, tensor.NewRNG(1))
	if err != nil {
		panic(err)
	}
	fmt.Println(len(a.Modules), "layers,", a.CountParams(), "trainable parameters")
	fmt.Println(a.Layers["model.layers.0.self_attn.q_proj"].Describe())
	// Output:
	// 4 layers, 4288 trainable parameters
	// 8 blocks of 8, 2 butterfly factors, exact Cayley
}
