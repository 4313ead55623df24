package model_test

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/gemma3"
	_ "github.com/orthotune/orthotune/model/gpt2"
	_ "github.com/orthotune/orthotune/model/llama"
	_ "github.com/orthotune/orthotune/model/qwen3"
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

// refArchs are the model types of testdata/peft-ref-models whose packages
// this test binary imports; each must have a base case.
var refArchs = []string{"qwen3", "gemma3_text"}

// TestReferenceModelsBase reproduces each base case of
// testdata/peft-ref-models (Qwen3, Gemma 3): logits and loss of the model
// alone, and with every weight trainable (full fine-tuning) the gradient of
// every grad_full.<weight> tensor the reference holds, within cases.json's
// per-tensor tolerances.
//
// Every case runs, through the package registered for its model_type: an
// architecture's cases need its package blank-imported
// here. A case of a model type not registered fails the test, and so does
// an architecture of refArchs without a case.
func TestReferenceModelsBase(t *testing.T) {
	refs, err := testref.LoadModelRefs()
	if err != nil {
		t.Fatal(err)
	}
	cases, leftOut := refs.Select(model.ModelTypes(), false)
	if len(leftOut) > 0 {
		t.Errorf("cases of model types this test binary does not register: %v (blank-import their packages here)", leftOut)
	}
	for _, arch := range refArchs {
		if !slices.ContainsFunc(cases, func(c *testref.ModelRef) bool { return c.ModelType == arch }) {
			t.Errorf("no base case of model_type %q ran", arch)
		}
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			atol := func(name string) float64 {
				t.Helper()
				a, err := c.Tolerance(name)
				if err != nil {
					t.Fatal(err)
				}
				return a
			}
			m, err := model.Load(c.Path(c.ModelDir))
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Info().ModelType; got != c.ModelType {
				t.Fatalf("loaded model_type %q, the case says %q", got, c.ModelType)
			}
			ref, err := c.Open(c.Ref)
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			ids, err := c.IDs()
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range m.Params() {
				p.SetTrainable(true)
			}
			logits, err := m.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.Float32("logits")
			if err != nil {
				t.Fatal(err)
			}
			testref.Compare(t, "logits", logits, want, atol("logits"))
			var ce nn.CrossEntropy
			loss, _, err := ce.Forward(logits, nn.ShiftedTargets(ids))
			if err != nil {
				t.Fatal(err)
			}
			wantLoss, err := ref.Float32("loss")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("loss %.9f, reference %.9f (tolerance %.3g)", loss, wantLoss.Data[0], atol("loss"))
			if math.Abs(loss-float64(wantLoss.Data[0])) > atol("loss") {
				t.Errorf("loss %.9f, reference %.9f", loss, wantLoss.Data[0])
			}
			m.Backward(ce.Backward(1))
			params := map[string]*nn.Param{}
			for _, p := range m.Params() {
				params[p.Name] = p
			}
			grads := 0
			for _, key := range ref.Names() {
				name, ok := strings.CutPrefix(key, "grad_full.")
				if !ok {
					continue
				}
				grads++
				p, ok := params[name]
				if !ok {
					t.Errorf("%s: the model has no weight %q", key, name)
					continue
				}
				g, err := ref.Float32(key)
				if err != nil {
					t.Fatal(err)
				}
				testref.Compare(t, key, p.Grad, g, atol(key))
			}
			if grads == 0 {
				t.Error("the reference holds no grad_full.* tensor")
			}
		})
	}
}
