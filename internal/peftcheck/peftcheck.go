package peftcheck

import (
	"encoding/json"
	"testing"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

// Config builds the case's adapter config: its fields plus peft_type,
// target_modules ["layer"] and a current peft_version.
func Config(t *testing.T, lc *testref.LayerCase) peft.Config {
	t.Helper()
	var fields map[string]any
	if err := json.Unmarshal(lc.Config, &fields); err != nil {
		t.Fatal(err)
	}
	fields["peft_type"] = lc.PeftType
	fields["target_modules"] = []string{"layer"}
	fields["peft_version"] = "0.20.0"
	data, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := peft.ParseConfig(lc.Name+" config", data)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Compare fails the test when got and want differ by more than atol and
// logs the difference either way (testref.Compare).
func Compare(t *testing.T, what string, got, want *tensor.Tensor, atol float64) {
	t.Helper()
	testref.Compare(t, what, got, want, atol)
}

// Run checks one layer case: output, input gradient, every adapter
// tensor's gradient, the merged weight, merged-forward = adapter-forward,
// and unmerge restoring the base weight. It returns the layer.
func Run(t *testing.T, name string) peft.Layer {
	t.Helper()
	lc, err := testref.LoadLayerCase(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config(t, lc)
	var bias *tensor.Tensor
	if b, ok := lc.Tensors["base.bias"]; ok {
		bias = b.Clone()
	}
	base, err := nn.NewLinear("layer", lc.Tensors["base.weight"].Clone(), bias, lc.Conv1D)
	if err != nil {
		t.Fatal(err)
	}
	slot := model.NewSlot(base)
	stored := map[string]*tensor.Tensor{}
	for _, s := range cfg.Suffixes() {
		src := lc.Tensors[s]
		if raw, ok := lc.Tensors[s+"_raw"]; ok { // COFT: the value before projection
			src = raw
		}
		stored[s] = src.Clone()
	}
	layer, err := cfg.LoadLayer(slot, stored)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range layer.Tensors() {
		p.Param.SetTrainable(true)
	}
	x, g := lc.Tensors["x"], lc.Tensors["G"]
	y := layer.Forward(x)
	Compare(t, "y", y, lc.Tensors["y"], lc.Atol("y"))
	for _, p := range layer.Tensors() {
		Compare(t, p.Suffix+" (used)", p.Param.W, lc.Tensors[p.Suffix], lc.Atol(p.Suffix))
	}
	dx := layer.Backward(g)
	Compare(t, "grad.x", dx, lc.Tensors["grad.x"], lc.Atol("grad.x"))
	for _, p := range layer.Tensors() {
		Compare(t, "grad."+p.Suffix, p.Param.Grad, lc.Tensors["grad."+p.Suffix], lc.Atol("grad."+p.Suffix))
	}
	if err := layer.Merge(); err != nil {
		t.Fatal(err)
	}
	Compare(t, "merged.weight", base.Weight.W, lc.Tensors["merged.weight"], lc.Atol("merged.weight"))
	Compare(t, "merged forward", base.Forward(x), y, lc.Atol("y"))
	if err := layer.Unmerge(); err != nil {
		t.Fatal(err)
	}
	Compare(t, "unmerged weight", base.Weight.W, lc.Tensors["base.weight"], lc.Atol("merged.weight"))
	return layer
}
