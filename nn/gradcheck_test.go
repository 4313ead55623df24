package nn

import (
	"math"
	"testing"

	"github.com/orthotune/orthotune/tensor"
)

// weightedSum returns Σ y·g in float64: the scalar loss the gradient checks
// differentiate, so dL/dy = g.
func weightedSum(y, g []float32) float64 {
	var s float64
	for i := range y {
		s += float64(y[i]) * float64(g[i])
	}
	return s
}

// checkGrad compares analytic against central finite differences of loss
// with respect to every element of x (perturbed in place and restored).
// The step is divided by the difference of the float32 values actually
// stored, so rounding of x ± h does not bias the estimate. It reports and
// returns the max error relative to the largest analytic entry.
func checkGrad(t *testing.T, name string, x, analytic []float32, loss func() float64, tol float64) float64 {
	t.Helper()
	if len(x) != len(analytic) {
		t.Fatalf("%s: %d values but %d gradient entries", name, len(x), len(analytic))
	}
	const h = 1e-2
	var maxErr, maxGrad float64
	for i := range x {
		orig := x[i]
		hi := orig + float32(h*math.Max(1, math.Abs(float64(orig))))
		lo := orig - (hi - orig)
		x[i] = hi
		lp := loss()
		x[i] = lo
		lm := loss()
		x[i] = orig
		fd := (lp - lm) / (float64(hi) - float64(lo))
		maxErr = math.Max(maxErr, math.Abs(fd-float64(analytic[i])))
		maxGrad = math.Max(maxGrad, math.Abs(float64(analytic[i])))
	}
	rel := maxErr / math.Max(maxGrad, 1e-12)
	t.Logf("%s: max |fd − analytic| = %.3g, max |grad| = %.3g, max relative error %.3g", name, maxErr, maxGrad, rel)
	if rel > tol || math.IsNaN(rel) {
		t.Errorf("%s: relative error %.3g exceeds %.3g", name, rel, tol)
	}
	if maxGrad == 0 {
		t.Errorf("%s: gradient is identically zero; the check proves nothing", name)
	}
	return rel
}

func randTensor(rng *tensor.RNG, std float64, shape ...int) *tensor.Tensor {
	return rng.Randn(std, shape...)
}

const gradTol = 5e-3
