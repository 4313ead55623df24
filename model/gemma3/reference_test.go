package gemma3_test

import (
	"math"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/gemma3"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// compare fails the test when got and want differ by more than the case's
// tolerance for name, and logs the difference either way.
func compare(t *testing.T, c *testref.ModelRef, name string, got, want *tensor.Tensor) {
	t.Helper()
	tol, err := c.Tolerance(name)
	if err != nil {
		t.Fatal(err)
	}
	if !got.SameShape(want) {
		t.Errorf("%s: shape %v, reference %v", name, got.Shape, want.Shape)
		return
	}
	d := tensor.MaxAbsDiff(got.Data, want.Data)
	t.Logf("%-60s max |Δ| %.3g (tolerance %.3g)", name, d, tol)
	if d > tol {
		t.Errorf("%s differs from the reference by %.3g > %.3g", name, d, tol)
	}
}

// refLoss reads the reference's loss [1].
func refLoss(t *testing.T, ref *safetensors.File) float64 {
	t.Helper()
	l, err := ref.Float32("loss")
	if err != nil {
		t.Fatal(err)
	}
	return float64(l.Data[0])
}

// TestReferenceBase reproduces the float64 reference of the tiny Gemma 3
// (sliding and full layers alternating, window 8 < 24 tokens, head_dim ≠
// hidden/heads, query_pre_attn_scalar ≠ head_dim, pad tokens in the input):
// logits, loss, and the full fine-tuning gradients stored (the tied, scaled
// embedding with its pad row, and a post-feedforward norm), through Forward
// and Backward and through ForwardLoss and BackwardLoss.
func TestReferenceBase(t *testing.T) {
	c, err := testref.LoadModelRef("gemma3/base")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := safetensors.Open(c.Path(c.Ref))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	ids, err := testref.IDs(ref, "input_ids")
	if err != nil {
		t.Fatal(err)
	}
	var gradKeys []string
	for _, n := range ref.Names() {
		if strings.HasPrefix(n, "grad_full.") {
			gradKeys = append(gradKeys, n)
		}
	}
	if len(gradKeys) == 0 {
		t.Fatal("the reference holds no grad_full tensors")
	}
	for _, path := range []string{"Forward", "ForwardLoss"} {
		t.Run(path, func(t *testing.T) {
			m, err := model.Load(c.Path(c.ModelDir))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range m.Params() {
				p.SetTrainable(true)
			}
			var ce nn.CrossEntropy
			var loss float64
			targets := nn.ShiftedTargets(ids)
			if path == "Forward" {
				logits, err := m.Forward(ids)
				if err != nil {
					t.Fatal(err)
				}
				want, err := ref.Float32("logits")
				if err != nil {
					t.Fatal(err)
				}
				compare(t, c, "logits", logits, want)
				if loss, _, err = ce.Forward(logits, targets); err != nil {
					t.Fatal(err)
				}
				m.Backward(ce.Backward(1))
			} else {
				lm := m.(model.LossModel)
				sum, n, err := lm.ForwardLoss(ids, targets, 1/float64(len(ids)*(len(ids[0])-1)), &ce)
				if err != nil {
					t.Fatal(err)
				}
				loss = sum / float64(n)
				tensor.Put(lm.BackwardLoss())
			}
			lossTol, err := c.Tolerance("loss")
			if err != nil {
				t.Fatal(err)
			}
			want := refLoss(t, ref)
			t.Logf("loss %.9f, reference %.9f (tolerance %.3g)", loss, want, lossTol)
			if math.Abs(loss-want) > lossTol {
				t.Errorf("loss %.9f, reference %.9f", loss, want)
			}
			params := map[string]*nn.Param{}
			for _, p := range m.Params() {
				params[p.Name] = p
			}
			for _, key := range gradKeys {
				name := strings.TrimPrefix(key, "grad_full.")
				p := params[name]
				if p == nil {
					t.Fatalf("the model has no weight %q", name)
				}
				w, err := ref.Float32(key)
				if err != nil {
					t.Fatal(err)
				}
				compare(t, c, key, p.Grad, w)
			}
		})
	}
}
