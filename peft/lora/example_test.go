package lora_test

import (
	"fmt"
	"path/filepath"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/gpt2"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/lora"
	"github.com/orthotune/orthotune/tensor"
)

// Attach rsLoRA of rank 4 to GPT-2's attention projections.
func ExampleNewConfig() {
	base, err := model.Load(filepath.Join(testref.Dir(), "model", "gpt2"))
	if err != nil {
		panic(err)
	}
	cfg := lora.NewConfig(peft.Names("c_attn"))
	cfg.R, cfg.LoraAlpha, cfg.UseRSLoRA = 4, 8, true
	pm := peft.Wrap(base)
	a, err := pm.Add("default", cfg, tensor.NewRNG(1))
	if err != nil {
		panic(err)
	}
	fmt.Println(a.Modules)
	fmt.Println(a.Layers[a.Modules[0]].Describe())
	// Output:
	// [transformer.h.0.attn.c_attn transformer.h.1.attn.c_attn]
	// rank 4, scaling 4
}
