package peft_test

import (
	"fmt"
	"path/filepath"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
)

// Load a PEFT adapter directory onto a model, run it, merge it for
// serving, and get the base model back.
func ExampleModel_Load() {
	base, err := model.Load(filepath.Join(testref.Dir(), "model", "llama"))
	if err != nil {
		panic(err)
	}
	pm := peft.Wrap(base)
	a, err := pm.Load("default", filepath.Join(testref.Dir(), "model", "llama", "oft"))
	if err != nil {
		panic(err)
	}
	fmt.Println(a.Config.Base().PeftType, a.Modules[0], a.CountParams())
	logits, _ := pm.Forward([][]int{{1, 2, 3}})
	_ = pm.Merge() // the plain model now computes the adapter's output
	merged, _ := pm.Forward([][]int{{1, 2, 3}})
	fmt.Println(logits.Shape, merged.Shape)
	_ = pm.DisableAdapters() // unmerges and routes around the adapter
	// Output:
	// OFT model.layers.0.self_attn.q_proj 1920
	// [1 3 256] [1 3 256]
}
