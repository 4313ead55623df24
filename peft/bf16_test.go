package peft_test

import (
	"errors"
	"testing"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/lora"
	"github.com/orthotune/orthotune/peft/oft"
	"github.com/orthotune/orthotune/tensor"
)

// TestMergeRefusesBF16Base checks, for every method, that merging into a
// base weight held in bfloat16 fails with nn.ErrBF16 and leaves the layer
// unmerged.
func TestMergeRefusesBF16Base(t *testing.T) {
	for name, cfg := range map[string]peft.Config{
		"oft":  func() peft.Config { c := oft.NewConfig(peft.Names("proj")); c.BlockSize = 4; return c }(),
		"lora": func() peft.Config { c := lora.NewConfig(peft.Names("proj")); c.R = 4; return c }(),
	} {
		t.Run(name, func(t *testing.T) {
			rng := tensor.NewRNG(4)
			base, err := nn.NewLinear("blocks.0.proj", rng.Randn(0.5, 9, 12), nil, false)
			if err != nil {
				t.Fatal(err)
			}
			l, err := cfg.NewLayer(model.NewSlot(base), rng)
			if err != nil {
				t.Fatal(err)
			}
			if err := base.StoreBF16(); err != nil {
				t.Fatal(err)
			}
			if err := l.Merge(); !errors.Is(err, nn.ErrBF16) {
				t.Fatalf("Merge with a bfloat16 base: %v, want nn.ErrBF16", err)
			}
			if l.Merged() {
				t.Error("layer reports merged after a refused merge")
			}
		})
	}
}
