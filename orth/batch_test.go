package orth

import (
	"fmt"
	"math"
	"testing"

	"github.com/orthotune/orthotune/tensor"
)

// TestBatchMatchesPerBlock checks Rotations and Backwards against the
// per-block float64 routines for every kind and series length, at block
// sizes on both sides of the BLAS threshold, with Q of the size training
// produces and one ten times larger.
func TestBatchMatchesPerBlock(t *testing.T) {
	rng := tensor.NewRNG(11)
	cases := []Cayley{{Kind: Exact}}
	for terms := 1; terms <= 7; terms++ {
		cases = append(cases, Cayley{Kind: Neumann, Terms: terms}, Cayley{Kind: NeumannLegacy, Terms: terms})
	}
	for _, c := range cases {
		for _, b := range []int{2, 8, 32} {
			for _, std := range []float64{0.01, 0.1} {
				t.Run(fmt.Sprintf("%v/b%d/std%g", c, b, std), func(t *testing.T) {
					n, bb := 5, b*b
					q, g := make([]float32, n*bb), randVec(rng, n*bb, 1)
					for i := range n {
						_, qi := randSkew(rng, b, std)
						copy(q[i*bb:], qi)
					}
					r, dq := make([]float32, n*bb), make([]float32, n*bb)
					c.Rotations(q, n, b, r)
					c.Backwards(q, r, g, n, b, dq)
					for i := range n {
						wantR := rotation(c, q[i*bb:(i+1)*bb], b)
						wantDQ := make([]float32, bb)
						c.Backward(q[i*bb:(i+1)*bb], wantR, g[i*bb:(i+1)*bb], b, wantDQ)
						assertClose(t, fmt.Sprintf("block %d R", i), r[i*bb:(i+1)*bb], wantR, 2e-6)
						assertClose(t, fmt.Sprintf("block %d dQ", i), dq[i*bb:(i+1)*bb], wantDQ, 2e-6)
					}
				})
			}
		}
	}
}

// assertClose fails when some |got − want| exceeds tol·(1 + max|want|).
func assertClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	scale := 0.0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol*(1+scale)) {
			t.Fatalf("%s[%d] = %g, want %g (|diff| %.3g > %.3g)", what, i, got[i], want[i], d, tol*(1+scale))
		}
	}
}

func TestBatchPanicsOnShortSlices(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Rotations with a short output did not panic")
		}
	}()
	Cayley{Kind: Neumann, Terms: 5}.Rotations(make([]float32, 2*16), 2, 4, make([]float32, 16))
}
