package peft_test

import (
	"math"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/gemma3"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// TestGemma3ReferenceAdapters loads the OFT and LoRA adapter directories of
// the tiny Gemma 3 reference (every linear kind targeted, o_proj and
// down_proj with in_features ≠ hidden) and checks, within cases.json's
// tolerances of testdata/peft-ref-models: logits, loss, the gradient of
// every adapter tensor, the merged weights stored, merged-then-forward, and
// that disabling the adapter gives the base logits back.
func TestGemma3ReferenceAdapters(t *testing.T) {
	base, err := testref.LoadModelRef("gemma3/base")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"oft", "lora"} {
		t.Run(name, func(t *testing.T) {
			c, err := testref.LoadModelRef("gemma3/" + name)
			if err != nil {
				t.Fatal(err)
			}
			check := func(what, tolKey string, got, want *tensor.Tensor) {
				t.Helper()
				tol, err := c.Tol(tolKey)
				if err != nil {
					t.Fatal(err)
				}
				if !got.SameShape(want) {
					t.Errorf("%s: shape %v, reference %v", what, got.Shape, want.Shape)
					return
				}
				d := tensor.MaxAbsDiff(got.Data, want.Data)
				t.Logf("%-60s max |Δ| %.3g (tolerance %.3g)", what, d, tol)
				if d > tol {
					t.Errorf("%s differs from the reference by %.3g > %.3g", what, d, tol)
				}
			}
			m, err := model.Load(c.Abs(c.ModelDir))
			if err != nil {
				t.Fatal(err)
			}
			pm := peft.Wrap(m)
			a, err := pm.Load("default", c.Abs(c.AdapterDir))
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Config.Base().PeftType; got != c.PeftType {
				t.Fatalf("adapter peft_type %s, case %s", got, c.PeftType)
			}
			ref, err := safetensors.Open(c.Abs(c.Ref))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			ids, err := testref.IDs(ref, "input_ids")
			if err != nil {
				t.Fatal(err)
			}
			a.SetTrainable(true)
			logits, err := pm.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.Float32("logits")
			if err != nil {
				t.Fatal(err)
			}
			check("logits", "logits", logits, want)
			var ce nn.CrossEntropy
			loss, _, err := ce.Forward(logits, nn.ShiftedTargets(ids))
			if err != nil {
				t.Fatal(err)
			}
			wantLoss, err := ref.Float32("loss")
			if err != nil {
				t.Fatal(err)
			}
			lossTol, err := c.Tol("loss")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("loss %.9f, reference %.9f (tolerance %.3g)", loss, wantLoss.Data[0], lossTol)
			if math.Abs(loss-float64(wantLoss.Data[0])) > lossTol {
				t.Errorf("loss %.9f, reference %.9f", loss, wantLoss.Data[0])
			}
			pm.Backward(ce.Backward(1))
			grads, err := safetensors.Open(c.Abs(c.Grads))
			if err != nil {
				t.Fatal(err)
			}
			defer grads.Close()
			params := a.Params()
			if len(params) != len(grads.Names()) || len(params) == 0 {
				t.Errorf("adapter has %d tensors, reference gradients %d", len(params), len(grads.Names()))
			}
			for _, p := range params {
				g, err := grads.Float32(p.Key)
				if err != nil {
					t.Fatal(err)
				}
				check("grad "+strings.TrimPrefix(p.Key, peft.KeyPrefix), p.Key, p.Param.Grad, g)
			}

			if err := pm.Merge(); err != nil {
				t.Fatal(err)
			}
			weights := map[string]*nn.Param{}
			for _, p := range pm.Params() {
				weights[p.Name] = p
			}
			merged := 0
			for _, key := range ref.Names() {
				if !strings.HasPrefix(key, "merged.") {
					continue
				}
				w, err := ref.Float32(key)
				if err != nil {
					t.Fatal(err)
				}
				p := weights[strings.TrimPrefix(key, "merged.")]
				if p == nil {
					t.Fatalf("the model has no weight for %s", key)
				}
				check(key, key, p.W, w)
				merged++
			}
			if merged == 0 {
				t.Error("the reference holds no merged weights")
			}
			out, err := pm.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			check("merged logits", "logits", out, want)
			if err := pm.DisableAdapters(); err != nil {
				t.Fatal(err)
			}
			plain, err := pm.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			baseRef, err := safetensors.Open(base.Abs(base.Ref))
			if err != nil {
				t.Fatal(err)
			}
			defer baseRef.Close()
			bl, err := baseRef.Float32("logits")
			if err != nil {
				t.Fatal(err)
			}
			check("disabled = base logits", "logits", plain, bl)
		})
	}
}
