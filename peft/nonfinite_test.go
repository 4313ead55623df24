package peft_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

// TestLoadRefusesNonFiniteTensors: an adapter whose tensors hold NaN or
// ±Inf — its own weights or base weights it carries — is refused with the
// adapter file, the tensor and the element, and leaves the model as it
// was.
func TestLoadRefusesNonFiniteTensors(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		name    string
		adapter string
		tensor  string
		at      int
		value   float32
		want    string
	}{
		{"OFT NaN", "oft", "base_model.model.model.layers.1.self_attn.v_proj.oft_R.weight", 17, nan, "NaN at element 17"},
		{"OFT +Inf", "oft", "base_model.model.model.layers.0.self_attn.q_proj.oft_R.weight", 0, inf, "+Inf at element 0"},
		{"OFT Cayley -Inf", "oft_cayley", "base_model.model.model.layers.1.self_attn.q_proj.oft_R.weight", 479, -inf, "-Inf at element 479"},
		{"LoRA NaN in B", "lora", "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight", 9, nan, "NaN at element 9"},
		{"NaN in a base weight the adapter carries", "oft", "base_model.model.model.norm.weight", 2, nan, "NaN at element 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyAdapter(t, refAdapter("llama", tc.adapter))
			rewriteWeights(t, dir, func(m map[string]*tensor.Tensor) {
				if strings.HasSuffix(tc.tensor, "norm.weight") {
					m[tc.tensor] = tensor.New(64)
				}
				w, ok := m[tc.tensor]
				if !ok {
					t.Fatalf("the adapter has no tensor %q", tc.tensor)
				}
				w.Data[tc.at] = tc.value
			})
			base, err := model.Load(filepath.Join(testref.Dir(), "model", "llama"))
			if err != nil {
				t.Fatal(err)
			}
			pm := peft.Wrap(base)
			var norm []float32
			for _, p := range pm.Params() {
				if p.Name == "model.norm.weight" {
					norm = append(norm, p.W.Data...)
				}
			}
			_, err = pm.Load("default", dir)
			if err == nil {
				t.Fatal("loaded without error")
			}
			t.Logf("error: %v", err)
			for _, w := range []string{filepath.Join(dir, peft.WeightsFile) + ": ", `tensor "` + tc.tensor + `" holds ` + tc.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q", w)
				}
			}
			if len(pm.Adapters()) != 0 {
				t.Errorf("a failed load left adapters %v attached", pm.Adapters())
			}
			for _, p := range pm.Params() {
				if p.Name == "model.norm.weight" && tensor.MaxAbsDiff(p.W.Data, norm) != 0 {
					t.Errorf("a failed load changed %s", p.Name)
				}
			}
		})
	}
}
