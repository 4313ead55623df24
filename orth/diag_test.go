package orth

import (
	"fmt"
	"math"
	"testing"

	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/tensor"
)

// rotationBlocks returns n exact-Cayley blocks of size b from Q ~ N(0, std²).
func rotationBlocks(rng *tensor.RNG, n, b int, std float64) []float32 {
	blocks := make([]float32, n*b*b)
	for i := range n {
		_, q := randSkew(rng, b, std)
		Cayley{Kind: Exact}.Rotation(q, b, blocks[i*b*b:(i+1)*b*b])
	}
	return blocks
}

// TestHypersphericalEnergyInvariance: rotating a Linear weight's inputs by
// an exact-Cayley block rotation (W ← W·R_bdᵀ) leaves HE unchanged to
// < 1e-5 relative; a low-rank update W + 0.5·B·A changes it by > 1e-3.
// Conv1D weights (in, out) hold neurons in columns: HE of Wᵀ is invariant
// under W ← R_bd·W.
func TestHypersphericalEnergyInvariance(t *testing.T) {
	rng := tensor.NewRNG(30)
	for _, tc := range []struct {
		out, in, b int
		shared     bool
		std        float64
	}{
		{64, 64, 16, false, 0.3},
		{64, 64, 64, false, 1},
		{192, 64, 16, false, 0.5},
		{192, 64, 32, true, 0.5},
		{48, 128, 8, false, 2},
	} {
		name := fmt.Sprintf("%d×%d b=%d shared=%v", tc.out, tc.in, tc.b, tc.shared)
		nb := tc.in / tc.b
		if tc.shared {
			nb = 1
		}
		blocks := rotationBlocks(rng, nb, tc.b, tc.std)
		w := randVec(rng, tc.out*tc.in, 1/math.Sqrt(float64(tc.in)))
		he := HypersphericalEnergy(w, tc.out, tc.in)

		rot := append([]float32(nil), w...)
		RotateWeightLinear(rot, tc.out, tc.in, tc.b, blocks, tc.shared)
		rel := math.Abs(HypersphericalEnergy(rot, tc.out, tc.in)-he) / he

		conv := transpose(w, tc.out, tc.in) // (in, out)
		RotateWeightConv1D(conv, tc.in, tc.out, tc.b, blocks, tc.shared)
		relConv := math.Abs(HypersphericalEnergy(transpose(conv, tc.in, tc.out), tc.out, tc.in)-he) / he

		r := 4
		bMat := randVec(rng, tc.out*r, 1)
		aMat := randVec(rng, r*tc.in, 1/math.Sqrt(float64(tc.in)))
		ba := naiveMul(bMat, aMat, tc.out, r, tc.in)
		upd := append([]float32(nil), w...)
		for i := range upd {
			upd[i] += 0.5 * ba[i]
		}
		relLoRA := math.Abs(HypersphericalEnergy(upd, tc.out, tc.in)-he) / he

		t.Logf("%s: HE %.6g; relative change: rotation %.2g (Conv1D %.2g), +0.5·BA %.3g", name, he, rel, relConv, relLoRA)
		if rel > 1e-5 || relConv > 1e-5 {
			t.Errorf("%s: rotation changed HE by %.3g (Conv1D %.3g)", name, rel, relConv)
		}
		if relLoRA < 1e-3 {
			t.Errorf("%s: low-rank update changed HE by only %.3g", name, relLoRA)
		}
	}
}

func TestHypersphericalEnergyCases(t *testing.T) {
	s := 1 / math.Sqrt2
	for _, tc := range []struct {
		name     string
		w        []float32
		neurons  int
		dim      int
		want     float64
		relative float64
	}{
		// Four directions at 90°: each has two neighbours at √2 and one at 2.
		{"square", []float32{1, 0, 0, 1, -1, 0, 0, -1}, 4, 2, 4 * (2/math.Sqrt2 + 0.5), 1e-12},
		// Lengths do not matter, zero rows are skipped.
		{"scaled+zero", []float32{3, 0, 0, 0, 0, 0.5, -7, 0, 0, -2}, 5, 2, 4 * (2/math.Sqrt2 + 0.5), 1e-12},
		// Antipodal pair: 2·(1/2).
		{"antipodal", []float32{1, 1, -1, -1}, 2, 2, 1, 1e-12},
		// Identical directions hit the floor: 2·10⁶ for the pair.
		{"identical", []float32{float32(s), float32(s), 2, 2}, 2, 2, 2e6, 1e-9},
		{"one row", []float32{1, 2, 3}, 1, 3, 0, 0},
		{"empty", nil, 0, 4, 0, 0},
	} {
		got := HypersphericalEnergy(tc.w, tc.neurons, tc.dim)
		if math.Abs(got-tc.want) > tc.relative*math.Abs(tc.want) {
			t.Errorf("%s: HE = %.12g, want %.12g", tc.name, got, tc.want)
		}
	}
	// The result does not depend on the number of threads.
	rng := tensor.NewRNG(31)
	w := randVec(rng, 97*40, 1)
	many := HypersphericalEnergy(w, 97, 40)
	prev := kernels.SetThreads(1)
	one := HypersphericalEnergy(w, 97, 40)
	kernels.SetThreads(prev)
	if many != one {
		t.Errorf("HE with %d threads %.17g, with 1 thread %.17g", prev, many, one)
	}
}

func BenchmarkHypersphericalEnergy(bm *testing.B) {
	rng := tensor.NewRNG(32)
	w := randVec(rng, 768*768, 1)
	for bm.Loop() {
		HypersphericalEnergy(w, 768, 768)
	}
}
