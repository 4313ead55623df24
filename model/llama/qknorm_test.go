package llama

import (
	"math"
	"slices"
	"testing"

	"github.com/orthotune/orthotune/internal/gradcheck"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

// TestQKNormGradients checks the per-head query and key norms (Qwen3's
// q_norm and k_norm, Config.QKNorm) against central finite differences
// of the probe loss Σ G_q·q̂ + Σ G_k·k̂: the gradients with respect to every
// element of the projections q and k and of both norm weights, for grouped
// heads (4 query heads, 2 key/value heads) and a head width the rows do
// not divide evenly into statistics with. It also checks that every head
// of a row is normalised on its own: with unit weights each head vector of
// the output has a root mean square of 1.
func TestQKNormGradients(t *testing.T) {
	const rows, heads, kvHeads, hd, eps = 5, 4, 2, 6, 1e-6
	rng := tensor.NewRNG(7)
	newNorm := func(name string) *nn.RMSNorm {
		w := rng.Randn(0.3, hd)
		for i := range w.Data {
			w.Data[i] += 1
		}
		n, err := nn.NewRMSNorm(name, w, eps)
		if err != nil {
			t.Fatal(err)
		}
		n.Weight.SetTrainable(true)
		return n
	}
	b := &block{heads: heads, kvHeads: kvHeads, headDim: hd, qNorm: newNorm("q_norm"), kNorm: newNorm("k_norm")}
	// Heads of different scales, so that a norm over the whole row (not
	// per head) would give other outputs and gradients.
	q, k := rng.Randn(1, rows, heads*hd), rng.Randn(1, rows, kvHeads*hd)
	for r := 0; r < rows; r++ {
		for j := 0; j < hd; j++ {
			q.Data[r*heads*hd+2*hd+j] *= 5
			k.Data[r*kvHeads*hd+j] *= 0.2
		}
	}
	gq, gk := rng.Randn(1, rows, heads*hd), rng.Randn(1, rows, kvHeads*hd)
	loss := func() float64 {
		qo, ko := b.normQK(q, k)
		return gradcheck.WeightedSum(qo.Data, gq.Data) + gradcheck.WeightedSum(ko.Data, gk.Data)
	}
	loss()
	// normQKBackward gives its inputs back to tensor's pool: pass copies.
	dq, dk := b.normQKBackward(gq.Clone(), gk.Clone())
	if !slices.Equal(dq.Shape, q.Shape) || !slices.Equal(dk.Shape, k.Shape) {
		t.Fatalf("gradient shapes %v and %v, inputs %v and %v", dq.Shape, dk.Shape, q.Shape, k.Shape)
	}
	est := gradcheck.WithStep(gradcheck.Central, 1e-3)
	for _, c := range []struct {
		name        string
		x, analytic []float32
	}{
		{"dL/dq", q.Data, dq.Data},
		{"dL/dk", k.Data, dk.Data},
		{"dL/d q_norm.weight", b.qNorm.Weight.W.Data, b.qNorm.Weight.Grad.Data},
		{"dL/d k_norm.weight", b.kNorm.Weight.W.Data, b.kNorm.Weight.Grad.Data},
	} {
		big := gradcheck.MaxAbs(c.analytic)
		rel := gradcheck.MaxError(c.x, c.analytic, nil, est, loss) / math.Max(big, 1e-12)
		t.Logf("%s: max relative error %.3g (max |grad| %.3g)", c.name, rel, big)
		if rel > 5e-3 || math.IsNaN(rel) || big == 0 {
			t.Errorf("%s: relative error %.3g, max |grad| %.3g", c.name, rel, big)
		}
	}

	// Unit weights: every head vector comes out with RMS 1, up to eps
	// (1e-6 against a mean square of 0.04 for the k head scaled by 0.2);
	// a norm over whole rows would leave the scaled heads far from it.
	for _, n := range []*nn.RMSNorm{b.qNorm, b.kNorm} {
		for i := range n.Weight.W.Data {
			n.Weight.W.Data[i] = 1
		}
	}
	qo, ko := b.normQK(q, k)
	for _, o := range []*tensor.Tensor{qo, ko} {
		for h := 0; h < len(o.Data)/hd; h++ {
			var ss float64
			for _, v := range o.Data[h*hd : (h+1)*hd] {
				ss += float64(v) * float64(v)
			}
			if rms := math.Sqrt(ss / hd); math.Abs(rms-1) > 1e-4 {
				t.Errorf("head vector %d of %v: RMS %.6f, want 1", h, o.Shape, rms)
			}
		}
	}
}

// TestNoQKNormIsIdentity: a block without the norms (Llama) passes q and
// k through untouched, and their gradients too.
func TestNoQKNormIsIdentity(t *testing.T) {
	b := &block{heads: 2, kvHeads: 1, headDim: 4}
	q, k := tensor.New(3, 8), tensor.New(3, 4)
	if qo, ko := b.normQK(q, k); qo != q || ko != k {
		t.Error("normQK without norms changed its inputs")
	}
	if dq, dk := b.normQKBackward(q, k); dq != q || dk != k {
		t.Error("normQKBackward without norms changed its inputs")
	}
}
