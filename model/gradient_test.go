package model_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/orthotune/orthotune/internal/gradcheck"
	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

// meanLoss runs the model and returns the mean next-token loss.
func meanLoss(t *testing.T, logits *tensor.Tensor, ids [][]int, ce *nn.CrossEntropy) float64 {
	t.Helper()
	l, _, err := ce.Forward(logits, nn.ShiftedTargets(ids))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// fdError returns max |Richardson finite difference − analytic| over idx.
func fdError(x, analytic []float32, idx []int, loss func() float64) float64 {
	return gradcheck.MaxError(x, analytic, idx, gradcheck.WithStep(gradcheck.Richardson, 1e-2), loss)
}

var maxAbs = gradcheck.MaxAbs

// TestModelGradients checks, for every architecture and option, the whole
// model's gradient with respect to its input embeddings (every element) and
// with respect to sampled elements of every weight against central finite
// differences of the mean next-token loss.
func TestModelGradients(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec testmodel.Spec
	}{
		{"llama grouped-query", testmodel.Spec{ModelType: "llama", Heads: 4, KVHeads: 2}},
		{"llama tied head", testmodel.Spec{ModelType: "llama", Tied: true}},
		{"qwen2 qkv bias", testmodel.Spec{ModelType: "qwen2", Heads: 4, KVHeads: 1}},
		{"mistral sliding window", testmodel.Spec{ModelType: "mistral", SlidingWindow: 3}},
		{"qwen3 grouped-query", testmodel.Spec{ModelType: "qwen3", Heads: 4, KVHeads: 2}},
		{"qwen3 tied head, attention bias, sliding window", testmodel.Spec{ModelType: "qwen3", Tied: true, AttentionBias: true, Extra: map[string]any{
			"use_sliding_window": true, "sliding_window": 3, "max_window_layers": 1}}},
		{"gpt2", testmodel.Spec{ModelType: "gpt2"}},
		{"gpt2 without prefix", testmodel.Spec{ModelType: "gpt2", NoPrefix: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			if _, err := testmodel.Write(dir, tc.spec); err != nil {
				t.Fatal(err)
			}
			m, err := model.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := m.Info().CheckpointDTypes["F32"], len(m.Params()); got != want {
				t.Errorf("%d F32 tensors counted as loaded, model has %d parameters", got, want)
			}
			for _, p := range m.Params() {
				p.SetTrainable(true)
			}
			rng := tensor.NewRNG(3)
			ids := [][]int{make([]int, 7), make([]int, 7)}
			for _, row := range ids {
				for i := range row {
					row[i] = rng.IntN(m.Info().Vocab)
				}
			}
			var ce nn.CrossEntropy
			// Input embeddings as transformers' inputs_embeds.
			table := m.Params()[0].W
			d := m.Info().Hidden
			x := tensor.New(2, 7, d)
			for i, id := range model.Flatten(ids) {
				copy(x.Data[i*d:(i+1)*d], table.Data[id*d:(id+1)*d])
			}
			fromIDs, err := m.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			fromEmb, err := m.ForwardEmbeddings(x)
			if err != nil {
				t.Fatal(err)
			}
			if diff := tensor.MaxAbsDiff(fromIDs.Data, fromEmb.Data); diff != 0 {
				t.Fatalf("Forward(ids) and ForwardEmbeddings differ by %g", diff)
			}
			embLoss := func() float64 {
				logits, err := m.ForwardEmbeddings(x)
				if err != nil {
					t.Fatal(err)
				}
				return meanLoss(t, logits, ids, &ce)
			}
			embLoss()
			dx := m.Backward(ce.Backward(1))
			all := make([]int, x.Len())
			for i := range all {
				all[i] = i
			}
			rel := fdError(x.Data, dx.Data, all, embLoss) / maxAbs(dx.Data)
			t.Logf("input embeddings: max relative error %.3g over %d elements", rel, len(all))
			if rel > 1e-3 || maxAbs(dx.Data) == 0 {
				t.Errorf("input-embedding gradient: relative error %.3g", rel)
			}

			// Weight gradients through the id path.
			for _, p := range m.Params() {
				p.ZeroGrad()
			}
			idLoss := func() float64 {
				logits, err := m.Forward(ids)
				if err != nil {
					t.Fatal(err)
				}
				return meanLoss(t, logits, ids, &ce)
			}
			idLoss()
			m.Backward(ce.Backward(1))
			worst := 0.0
			for _, p := range m.Params() {
				idx := make([]int, 6)
				for i := range idx {
					idx[i] = rng.IntN(p.W.Len())
				}
				// Always include the largest-gradient entry, so the check
				// never passes on zeros alone.
				big, bi := 0.0, 0
				for i, g := range p.Grad.Data {
					if math.Abs(float64(g)) > big {
						big, bi = math.Abs(float64(g)), i
					}
				}
				if big == 0 {
					t.Errorf("%s: gradient identically zero", p.Name)
					continue
				}
				idx = append(idx, bi)
				// Gradients smaller than 0.05 are judged against an absolute
				// floor: the float32 loss carries ~3e-7 of rounding noise,
				// which a 1e-2 step turns into ~3e-5 of noise in the estimate.
				r := fdError(p.W.Data, p.Grad.Data, idx, idLoss) / math.Max(big, 0.05)
				worst = math.Max(worst, r)
				if r > 1e-3 {
					t.Errorf("%s: relative error %.3g (max abs gradient %.3g)", p.Name, r, big)
				}
			}
			t.Logf("weights: max relative error %.3g over %d parameters", worst, len(m.Params()))
		})
	}
}

// TestFrozenModelKeepsNoGradients: with every weight frozen, backward still
// yields the input gradient and allocates no weight gradients.
func TestFrozenModelKeepsNoGradients(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	if _, err := testmodel.Write(dir, testmodel.Spec{ModelType: "llama"}); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m.Linears()[0].Base.Weight.SetTrainable(true)
	ids := [][]int{{1, 2, 3, 4}}
	logits, err := m.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	var ce nn.CrossEntropy
	meanLoss(t, logits, ids, &ce)
	dx := m.Backward(ce.Backward(1))
	if maxAbs(dx.Data) == 0 {
		t.Fatal("no input gradient")
	}
	for _, p := range m.Params() {
		if p == m.Linears()[0].Base.Weight {
			if p.Grad == nil || maxAbs(p.Grad.Data) == 0 {
				t.Errorf("%s: trainable but got no gradient", p.Name)
			}
		} else if p.Grad != nil {
			t.Errorf("%s: frozen but has a gradient buffer", p.Name)
		}
	}
}
