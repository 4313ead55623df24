package gemma3_test

import (
	"math"
	"testing"

	"github.com/orthotune/orthotune/internal/gradcheck"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

// TestGradients checks the whole model's gradients against Richardson
// finite differences of the mean next-token loss: with respect to every
// element of the first block's input (ForwardEmbeddings), and to sampled
// elements of every weight — the (1 + w) norms, q/k norms, GeGLU, soft-cap
// and scaled embedding included — through Forward(ids). The pad row's
// lookup has no gradient by design (padding_idx), so its elements are
// checked only where pad_token_id is null.
func TestGradients(t *testing.T) {
	for _, tc := range []struct {
		name    string
		over    map[string]any
		nullPad bool // pad_token_id present and null
	}{
		{"tied, sliding and full layers", nil, false},
		{"pad_token_id null (ids contain 0)", nil, true},
		{"untied, attention bias, soft-cap, one kv head", map[string]any{
			"tie_word_embeddings": false, "attention_bias": true, "final_logit_softcapping": 2.0, "num_key_value_heads": 1}, false},
		{"erf GELU, linear rope scaling, layer types", map[string]any{
			"hidden_activation": "gelu", "rope_scaling": map[string]any{"rope_type": "linear", "factor": 4.0},
			"layer_types": []string{"full_attention", "sliding_attention", "sliding_attention"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tinyConfig()
			if tc.nullPad {
				cfg["pad_token_id"] = nil // written as null, unlike an override's nil
			}
			checkGradients(t, cfg, tc.over)
		})
	}
}

// checkGradients runs TestGradients's checks on the config cfg with over
// applied.
func checkGradients(t *testing.T, cfg, over map[string]any) {
	t.Helper()
	c := parse(t, cfg, over)
	rng := tensor.NewRNG(7)
	built, err := model.NewInitialized(c, func(name string, shape []int) []float32 {
		std := 0.3
		if len(shape) == 1 {
			std = 0.2
		}
		return rng.Randn(std, shape...).Data
	})
	if err != nil {
		t.Fatal(err)
	}
	m := built
	if m.Info().ModelType != "gemma3_text" {
		t.Fatalf("built a %s", m.Info().ModelType)
	}
	pad := -1
	if !c.Null("pad_token_id") {
		pad = 0
	}
	for _, p := range m.Params() {
		p.SetTrainable(true)
	}
	ids := [][]int{{3, 0, 5, 7, 1, 9, 0, 2}, {4, 4, 11, 0, 6, 23, 8, 10}}
	var ce nn.CrossEntropy
	targets := nn.ShiftedTargets(ids)
	loss := func(logits *tensor.Tensor) float64 {
		l, _, err := ce.Forward(logits, targets)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	logits, err := m.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	loss(logits)
	m.Backward(ce.Backward(1))
	// The first block's input as Forward builds it.
	d := m.Info().Hidden
	table := m.Params()[0].W
	x := tensor.New(2, 8, d)
	scale := float32(math.Sqrt(float64(d)))
	for i, id := range model.Flatten(ids) {
		for j := range d {
			x.Data[i*d+j] = table.Data[id*d+j] * scale
		}
	}
	fromEmb, err := m.ForwardEmbeddings(x)
	if err != nil {
		t.Fatal(err)
	}
	if diff := tensor.MaxAbsDiff(logits.Data, fromEmb.Data); diff != 0 {
		t.Fatalf("Forward(ids) and ForwardEmbeddings(scaled rows) differ by %g", diff)
	}
	// Weight gradients (Forward's): kept before the embedding pass adds more.
	grads := map[*nn.Param][]float32{}
	for _, p := range m.Params() {
		grads[p] = append([]float32(nil), p.Grad.Data...)
		p.ZeroGrad()
	}
	embLoss := func() float64 {
		l, err := m.ForwardEmbeddings(x)
		if err != nil {
			t.Fatal(err)
		}
		return loss(l)
	}
	embLoss()
	dx := m.Backward(ce.Backward(1))
	// Steps of 1e-2 leave truncation errors near 1e-3 on these strongly
	// curved losses; 5e-3 brings them to ~1e-4, above float32 noise.
	est := gradcheck.WithStep(gradcheck.Richardson, 5e-3)
	rel := gradcheck.MaxError(x.Data, dx.Data, nil, est, embLoss) / gradcheck.MaxAbs(dx.Data)
	t.Logf("first block's input: max relative error %.3g over %d elements", rel, x.Len())
	if rel > 1e-3 || gradcheck.MaxAbs(dx.Data) == 0 {
		t.Errorf("input gradient: relative error %.3g", rel)
	}
	idLoss := func() float64 {
		l, err := m.Forward(ids)
		if err != nil {
			t.Fatal(err)
		}
		return loss(l)
	}
	rng2 := tensor.NewRNG(9)
	worst := 0.0
	for _, p := range m.Params() {
		g := grads[p]
		skip := func(i int) bool { return p == m.Params()[0] && pad >= 0 && i/d == pad }
		var idx []int
		for len(idx) < 8 {
			if i := rng2.IntN(p.W.Len()); !skip(i) {
				idx = append(idx, i)
			}
		}
		big, bi := 0.0, -1
		for i, v := range g {
			if math.Abs(float64(v)) > big && !skip(i) {
				big, bi = math.Abs(float64(v)), i
			}
		}
		if bi < 0 {
			t.Errorf("%s: gradient identically zero", p.Name)
			continue
		}
		idx = append(idx, bi)
		if p == m.Params()[0] && pad < 0 {
			for j := range d { // row 0, which the ids look up
				idx = append(idx, j)
			}
		}
		// The smaller of two steps' errors: large steps leave truncation
		// error where the loss curves strongly, small ones float32 noise
		// where the gradient is small; a wrong gradient fails both.
		r := math.Min(gradcheck.MaxError(p.W.Data, g, idx, est, idLoss),
			gradcheck.MaxError(p.W.Data, g, idx, gradcheck.WithStep(gradcheck.Richardson, 1e-2), idLoss)) / math.Max(big, 0.05)
		worst = math.Max(worst, r)
		if r > 1e-3 {
			t.Errorf("%s: relative error %.3g (max abs gradient %.3g)", p.Name, r, big)
		}
	}
	t.Logf("weights: max relative error %.3g over %d parameters", worst, len(m.Params()))
}
