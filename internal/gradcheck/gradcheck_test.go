package gradcheck

import (
	"math"
	"testing"
)

func TestEstimatorsOnKnownFunction(t *testing.T) {
	// L(x) = Σ sin(x_i)·x_i², dL/dx_i = cos(x_i)·x_i² + 2x_i·sin(x_i).
	x := []float32{0.3, -1.2, 2.5}
	loss := func() float64 {
		var s float64
		for _, v := range x {
			s += math.Sin(float64(v)) * float64(v) * float64(v)
		}
		return s
	}
	grad := make([]float32, len(x))
	for i, v := range x {
		f := float64(v)
		grad[i] = float32(math.Cos(f)*f*f + 2*f*math.Sin(f))
	}
	central := MaxError(x, grad, nil, WithStep(Central, 1e-2), loss)
	richardson := MaxError(x, grad, nil, WithStep(Richardson, 1e-2), loss)
	if central > 2e-3 || richardson > central/10 {
		t.Errorf("central error %.3g, Richardson %.3g: want Richardson ≪ central ≤ 2e-3", central, richardson)
	}
	wrong := append([]float32(nil), grad...)
	wrong[1] += 0.01
	if MaxError(x, wrong, []int{1}, WithStep(Richardson, 1e-2), loss) < 0.009 {
		t.Error("a wrong gradient went unnoticed")
	}
	if x[0] != 0.3 || x[1] != -1.2 || x[2] != 2.5 {
		t.Errorf("x not restored: %v", x)
	}
}
