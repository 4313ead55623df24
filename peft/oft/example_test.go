package oft_test

import (
	"fmt"
	"path/filepath"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/llama"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/oft"
	"github.com/orthotune/orthotune/tensor"
)

// Attach a fresh OFT adapter (zero-initialised: exactly the base model) to
// every linear layer, with blocks of 16 and exact Cayley rotations.
func ExampleNewConfig() {
	base, err := model.Load(filepath.Join(testref.Dir(), "model", "llama"))
	if err != nil {
		panic(err)
	}
	cfg := oft.NewConfig(peft.Pattern("all-linear"))
	cfg.BlockSize = 16
	cfg.UseCayleyNeumann = false
	pm := peft.Wrap(base)
	a, err := pm.Add("default", cfg, tensor.NewRNG(1))
	if err != nil {
		panic(err)
	}
	fmt.Println(len(a.Modules), "layers,", a.CountParams(), "trainable parameters")
	fmt.Println(a.Layers["model.layers.0.mlp.down_proj"].Describe())
	// Output:
	// 14 layers, 7680 trainable parameters
	// 8 blocks of 16, exact Cayley
}
