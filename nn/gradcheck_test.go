package nn

import (
	"math"
	"testing"

	"github.com/orthotune/orthotune/internal/gradcheck"
	"github.com/orthotune/orthotune/tensor"
)

// weightedSum is the probe loss Σ y·g, so dL/dy = g.
var weightedSum = gradcheck.WeightedSum

// checkGrad compares analytic against central finite differences of loss
// with respect to every element of x. It reports and returns the max error
// relative to the largest analytic entry.
func checkGrad(t *testing.T, name string, x, analytic []float32, loss func() float64, tol float64) float64 {
	t.Helper()
	if len(x) != len(analytic) {
		t.Fatalf("%s: %d values but %d gradient entries", name, len(x), len(analytic))
	}
	maxErr := gradcheck.MaxError(x, analytic, nil, gradcheck.WithStep(gradcheck.Central, 1e-2), loss)
	maxGrad := gradcheck.MaxAbs(analytic)
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
