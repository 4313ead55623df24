package hra_test

import (
	"fmt"
	"path/filepath"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/llama"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/hra"
	"github.com/orthotune/orthotune/tensor"
)

// Attach a fresh HRA adapter to every linear layer: r = 8 reflections in
// equal pairs, so H = I and the adapted model starts as the base model.
func ExampleNewConfig() {
	base, err := model.Load(filepath.Join(testref.Dir(), "model", "llama"))
	if err != nil {
		panic(err)
	}
	ids := [][]int{{1, 5, 9, 2}}
	before, _ := base.Forward(ids)
	before = before.Clone()

	pm := peft.Wrap(base)
	a, err := pm.Add("default", hra.NewConfig(peft.Pattern("all-linear")), tensor.NewRNG(1))
	if err != nil {
		panic(err)
	}
	after, _ := pm.Forward(ids)
	l := a.Layers["model.layers.0.mlp.down_proj"]
	fmt.Println(len(a.Modules), "layers,", a.CountParams(), "trainable parameters")
	fmt.Println(l.Describe())
	for _, d := range l.Diagnostics() {
		if d.Key == "det_sign" {
			fmt.Println("det H:", d.Text())
		}
	}
	fmt.Println("starts as the base model:", tensor.MaxAbsDiff(before.Data, after.Data) < 1e-5)
	// Output:
	// 14 layers, 8192 trainable parameters
	// r 8, product of 8 reflections
	// det H: +1
	// starts as the base model: true
}
