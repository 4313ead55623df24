package peftcheck

import (
	"math"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// ModelCase is a PEFT adapter directory on a whole reference model and
// what the reference computed with it, whichever reference set it comes
// from (testdata/peft-ref's per-model adapters, peft-ref-models' cases).
type ModelCase struct {
	ModelDir, AdapterDir string // absolute paths
	IDs                  [][]int
	// Ref holds logits [batch, seq, vocab] and merged.<module>.weight for
	// some adapted modules (every one present is checked).
	Ref *safetensors.File
	// Grads holds d loss / d every adapter tensor, by adapter key; it must
	// name exactly the adapter's tensors.
	Grads      *safetensors.File
	Loss       float64        // mean next-token cross-entropy
	BaseLogits *tensor.Tensor // the model without the adapter
	// Tolerances: of the logits (with, after merging, and without the
	// adapter), of the loss, of one adapter key's gradient and of one
	// merged.* tensor.
	LogitsAtol, BaseLogitsAtol, LossAtol float64
	GradAtol, MergedAtol                 func(key string) float64
}

// Model loads c's model and adapter and checks logits, loss, the gradient
// of every adapter tensor, every merged weight in Ref, the merged model's
// logits, and that disabling the adapter gives the base logits.
func Model(t *testing.T, c ModelCase) {
	t.Helper()
	base, err := model.Load(c.ModelDir)
	if err != nil {
		t.Fatal(err)
	}
	pm := peft.Wrap(base)
	a, err := pm.Load("default", c.AdapterDir)
	if err != nil {
		t.Fatal(err)
	}
	a.SetTrainable(true)
	logits, err := pm.Forward(c.IDs)
	if err != nil {
		t.Fatal(err)
	}
	want, err := c.Ref.Float32("logits")
	if err != nil {
		t.Fatal(err)
	}
	Compare(t, "logits", logits, want, c.LogitsAtol)
	var ce nn.CrossEntropy
	loss, _, err := ce.Forward(logits, nn.ShiftedTargets(c.IDs))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loss %.9f, reference %.9f (tolerance %.3g)", loss, c.Loss, c.LossAtol)
	if math.Abs(loss-c.Loss) > c.LossAtol {
		t.Errorf("loss %.9f, reference %.9f", loss, c.Loss)
	}
	pm.Backward(ce.Backward(1))
	params := a.Params()
	if len(params) != len(c.Grads.Names()) {
		t.Errorf("adapter has %d tensors, reference gradients %d", len(params), len(c.Grads.Names()))
	}
	for _, p := range params {
		g, err := c.Grads.Float32(p.Key)
		if err != nil {
			t.Errorf("reference gradients: %v", err)
			continue
		}
		Compare(t, "grad "+strings.TrimPrefix(p.Key, peft.KeyPrefix), p.Param.Grad, g, c.GradAtol(p.Key))
	}

	if err := pm.Merge(); err != nil {
		t.Fatal(err)
	}
	weights := map[string]*nn.Param{}
	for _, p := range pm.Params() {
		weights[p.Name] = p
	}
	merged := 0
	for _, key := range c.Ref.Names() {
		name, ok := strings.CutPrefix(key, "merged.")
		if !ok {
			continue
		}
		merged++
		w, err := c.Ref.Float32(key)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := weights[name]
		if !ok {
			t.Errorf("%s: the model has no weight %q", key, name)
			continue
		}
		Compare(t, key, p.W, w, c.MergedAtol(key))
	}
	if merged == 0 {
		t.Error("the reference holds no merged.* tensor")
	}
	mergedLogits, err := pm.Forward(c.IDs)
	if err != nil {
		t.Fatal(err)
	}
	Compare(t, "merged logits", mergedLogits, want, c.LogitsAtol)
	if err := pm.DisableAdapters(); err != nil {
		t.Fatal(err)
	}
	plain, err := pm.Forward(c.IDs)
	if err != nil {
		t.Fatal(err)
	}
	Compare(t, "disabled = base logits", plain, c.BaseLogits, c.BaseLogitsAtol)
}
