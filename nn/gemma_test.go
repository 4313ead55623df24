package nn

import (
	"math"
	"testing"

	"github.com/orthotune/orthotune/tensor"
)

// TestOffsetRMSNorm checks Gemma's (1 + w) RMSNorm (RMSNorm with Offset 1)
// against RMSNorm with the gain 1 + w as its weight (the same float32
// products, so bit for bit), and its input and weight gradients against
// finite differences, over whole rows and over per-head rows
// (q_norm/k_norm: [rows, heads·d] seen as [rows·heads, d]).
func TestOffsetRMSNorm(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rows, width int // as the norm sees them
		std         float64
	}{
		{"hidden rows", 6, 8, 0.1},
		{"per head (4 heads of 5)", 3 * 4, 5, 0.3},
		{"zero offset", 4, 6, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := tensor.NewRNG(11)
			w := randTensor(rng, tc.std, tc.width)
			n, err := NewRMSNorm("norm", w, 1e-6)
			if err != nil {
				t.Fatal(err)
			}
			n.Offset = 1
			gain := w.Clone()
			for i := range gain.Data {
				gain.Data[i] += 1
			}
			plain, err := NewRMSNorm("plain", gain, 1e-6)
			if err != nil {
				t.Fatal(err)
			}
			x := randTensor(rng, 1.5, tc.rows, tc.width)
			if d := tensor.MaxAbsDiff(n.Forward(x).Data, plain.Forward(x).Data); d != 0 {
				t.Errorf("y differs from RMSNorm with gain 1 + w by %g", d)
			}
			n.Weight.SetTrainable(true)
			g := randTensor(rng, 1, tc.rows, tc.width)
			loss := func() float64 { return weightedSum(n.Forward(x).Data, g.Data) }
			loss()
			dx := n.Backward(g)
			checkGrad(t, "dx", x.Data, dx.Data, loss, gradTol)
			checkGrad(t, "dw", n.Weight.W.Data, n.Weight.Grad.Data, loss, gradTol)
		})
	}
}

// TestGeGLU checks both GELU forms against their float64 formulas and the
// gradients with respect to gate and up against finite differences.
func TestGeGLU(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind GELUKind
		gelu func(x float64) float64
	}{
		{"tanh", GELUTanh, func(x float64) float64 {
			return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		}},
		{"exact", GELUExact, func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := tensor.NewRNG(12)
			gate, up := randTensor(rng, 2, 3, 7), randTensor(rng, 1, 3, 7)
			gate.Data[0], gate.Data[1] = -9, 9 // the tails
			s := GeGLU{Kind: tc.kind}
			h := s.Forward(gate, up)
			var worst float64
			for i, v := range h.Data {
				want := tc.gelu(float64(gate.Data[i])) * float64(up.Data[i])
				worst = math.Max(worst, math.Abs(float64(v)-want)/math.Max(1, math.Abs(want)))
			}
			if worst > 1e-6 {
				t.Errorf("h differs from gelu(gate)·up by %.3g (relative)", worst)
			}
			g := randTensor(rng, 1, 3, 7)
			loss := func() float64 { return weightedSum(s.Forward(gate, up).Data, g.Data) }
			loss()
			dgate, dup := s.Backward(g)
			checkGrad(t, "dgate", gate.Data, dgate.Data, loss, gradTol)
			checkGrad(t, "dup", up.Data, dup.Data, loss, gradTol)
		})
	}
}

// TestSoftcap checks c·tanh(x/c) in place, its bounds, and its gradient
// against finite differences.
func TestSoftcap(t *testing.T) {
	for _, c := range []float64{2, 30} {
		rng := tensor.NewRNG(13)
		s, err := NewSoftcap(c)
		if err != nil {
			t.Fatal(err)
		}
		x := randTensor(rng, c, 4, 9)
		x.Data[0], x.Data[1] = 1e4, -1e4
		in := x.Clone()
		y := s.Forward(x)
		if &y.Data[0] != &x.Data[0] {
			t.Errorf("c=%g: Forward did not work in place", c)
		}
		for i, v := range y.Data {
			want := c * math.Tanh(float64(in.Data[i])/c)
			if math.Abs(float64(v)-want) > 4e-7*c {
				t.Errorf("c=%g: softcap(%g) = %g, want %g", c, in.Data[i], v, want)
			}
			if math.Abs(float64(v)) > c {
				t.Errorf("c=%g: softcap(%g) = %g exceeds the cap", c, in.Data[i], v)
			}
		}
		g := randTensor(rng, 1, 4, 9)
		work := in.Clone()
		loss := func() float64 {
			copy(work.Data, in.Data)
			return weightedSum(s.Forward(work).Data, g.Data)
		}
		loss()
		dx := s.Backward(g)
		checkGrad(t, "dx", in.Data, dx.Data, loss, gradTol)
	}
	for _, c := range []float64{0, -1, math.Inf(1), math.NaN()} {
		if _, err := NewSoftcap(c); err == nil {
			t.Errorf("soft-cap %g accepted", c)
		}
	}
}
