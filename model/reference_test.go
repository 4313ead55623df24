package model_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/gpt2"
	_ "github.com/orthotune/orthotune/model/llama"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

// TestReferenceLogitsAndLoss reproduces the float64 PyTorch reference
// logits and loss of the tiny Llama and GPT-2 models within cases.json's
// tolerances.
func TestReferenceLogitsAndLoss(t *testing.T) {
	cases, err := testref.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"llama", "gpt2"} {
		t.Run(arch, func(t *testing.T) {
			c, ok := cases.Model[arch]
			if !ok {
				t.Fatalf("cases.json has no model %q", arch)
			}
			m, err := model.Load(filepath.Join(testref.Dir(), c.Dir))
			if err != nil {
				t.Fatal(err)
			}
			ref, err := testref.Tensors(c.Base.File)
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			ids, err := testref.IDs(ref, "input_ids")
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.Float32("logits")
			if err != nil {
				t.Fatal(err)
			}
			logits, err := m.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			if !logits.SameShape(want) {
				t.Fatalf("logits shape %v, reference %v", logits.Shape, want.Shape)
			}
			tol := c.Base.Tolerances["logits"].Atol
			diff := tensor.MaxAbsDiff(logits.Data, want.Data)
			t.Logf("logits max |Δ| = %.3g (tolerance %.3g)", diff, tol)
			if diff > tol {
				t.Errorf("logits differ from the reference by %.3g > %.3g", diff, tol)
			}
			var ce nn.CrossEntropy
			loss, _, err := ce.Forward(logits, nn.ShiftedTargets(ids))
			if err != nil {
				t.Fatal(err)
			}
			lossTol := c.Base.Tolerances["loss"].Atol
			t.Logf("loss %.9f, reference %.9f (tolerance %.3g)", loss, c.Base.Loss, lossTol)
			if math.Abs(loss-c.Base.Loss) > lossTol {
				t.Errorf("loss %.9f, reference %.9f", loss, c.Base.Loss)
			}
		})
	}
}
