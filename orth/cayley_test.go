package orth

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/orthotune/orthotune/internal/gradcheck"
	"github.com/orthotune/orthotune/tensor"
)

func TestCayleyString(t *testing.T) {
	for _, tc := range []struct {
		c    Cayley
		want string
	}{
		{Cayley{Kind: Exact, Terms: 5}, "exact Cayley"},
		{Cayley{Kind: Neumann, Terms: 5}, "Cayley–Neumann (5 terms)"},
		{Cayley{Kind: Neumann, Terms: 1}, "Cayley–Neumann (1 term)"},
		{Cayley{Kind: NeumannLegacy, Terms: 5}, "Cayley–Neumann, PEFT 0.16–0.17 series (5 terms)"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.c, got, tc.want)
		}
	}
}

// seriesRef evaluates Σ coefs[k]·Q^k by explicit powers in float64.
func seriesRef(q []float32, b int, coefs []float64) []float32 {
	q64 := make([]float64, b*b)
	widen(q64, q)
	p := make([]float64, b*b)
	setIdentity(p, b, 1)
	sum := make([]float64, b*b)
	t := make([]float64, b*b)
	for k, ck := range coefs {
		if k > 0 {
			mul(t, p, q64, b, false, false)
			p, t = t, p
		}
		for i := range sum {
			sum[i] += ck * p[i]
		}
	}
	out := make([]float32, b*b)
	narrow(out, sum)
	return out
}

// TestSeriesCoefficients pins every series to the coefficients of
// PEFT-SEMANTICS.md, evaluated independently by explicit powers.
func TestSeriesCoefficients(t *testing.T) {
	rng := tensor.NewRNG(2)
	b := 8
	_, q := randSkew(rng, b, 0.3)
	for _, tc := range []struct {
		c     Cayley
		coefs []float64
	}{
		{Cayley{Neumann, 0}, []float64{1}},
		{Cayley{Neumann, 1}, []float64{1}},
		{Cayley{Neumann, 2}, []float64{1, 2}},
		{Cayley{Neumann, 3}, []float64{1, 2, 2, 1}},
		{Cayley{Neumann, 4}, []float64{1, 2, 2, 1}},
		{Cayley{Neumann, 5}, []float64{1, 2, 2, 2, 1}},
		{Cayley{Neumann, 6}, []float64{1, 2, 2, 2, 2, 1}},
		{Cayley{NeumannLegacy, 1}, []float64{1}},
		{Cayley{NeumannLegacy, 2}, []float64{1, 2}},
		{Cayley{NeumannLegacy, 3}, []float64{1, 2, 2}},
		{Cayley{NeumannLegacy, 5}, []float64{1, 2, 2, 2, 2}},
	} {
		got := rotation(tc.c, q, b)
		if d := tensor.MaxAbsDiff(got, seriesRef(q, b, tc.coefs)); d > 1e-6 {
			t.Errorf("%v: differs from %v by %.3g", tc.c, tc.coefs, d)
		}
	}
	// k = 3 and k = 4 are the same matrix; legacy and new differ at k = 5
	// and coincide at k = 2.
	same := func(a, b2 Cayley) float64 { return tensor.MaxAbsDiff(rotation(a, q, b), rotation(b2, q, b)) }
	if d := same(Cayley{Neumann, 3}, Cayley{Neumann, 4}); d != 0 {
		t.Errorf("Neumann k=3 and k=4 differ by %.3g", d)
	}
	if d := same(Cayley{Neumann, 2}, Cayley{NeumannLegacy, 2}); d != 0 {
		t.Errorf("new and legacy k=2 differ by %.3g", d)
	}
	if d := same(Cayley{Neumann, 5}, Cayley{NeumannLegacy, 5}); d < 1e-3 {
		t.Errorf("new and legacy k=5 differ by only %.3g", d)
	}
}

// TestExactCayleyIsRotation: exact Cayley of skew Q is orthogonal to
// float32 rounding (‖RᵀR − I‖_F < 1e-6·b), has determinant +1, preserves
// norms and inner products (< 1e-5) and has every |λ| within 1e-5 of 1.
// Its transpose is the Neumann series' limit: for small Q, the 5-term
// series approximates Rᵀ.
func TestExactCayleyIsRotation(t *testing.T) {
	rng := tensor.NewRNG(3)
	exact := Cayley{Kind: Exact}
	for _, b := range []int{2, 5, 16, 32, 64} {
		for _, std := range []float64{0.01, 0.3, 1, 5} {
			_, q := randSkew(rng, b, std)
			r := rotation(exact, q, b)
			oe := OrthogonalityError(r, b)
			sign, logAbs := Determinant(r, b)
			np := NormPreservation(r, b, rng, 20)
			ip := InnerProductPreservation(r, b, rng, 20)
			mods, err := EigenModuli(r, b)
			if err != nil {
				t.Fatal(err)
			}
			var eig float64
			for _, m := range mods {
				eig = math.Max(eig, math.Abs(m-1))
			}
			if b == 16 || b == 64 {
				t.Logf("b=%d std=%g: ‖RᵀR−I‖ %.2g, det %+d·e^%.1g, norm %.2g, inner %.2g, max||λ|−1| %.2g", b, std, oe, sign, logAbs, np, ip, eig)
			}
			if oe > 1e-6*float64(b) || sign != 1 || math.Abs(logAbs) > 1e-5 || np > 1e-5 || ip > 1e-5 || eig > 1e-5 || len(mods) != b {
				t.Errorf("b=%d std=%g: ‖RᵀR−I‖ %.3g, det sign %d log|det| %.3g, norm %.3g, inner %.3g, max||λ|−1| %.3g",
					b, std, oe, sign, logAbs, np, ip, eig)
			}
		}
	}
	// Exact Cayley vs the Neumann series: the series approximates Rᵀ.
	b := 16
	_, q := randSkew(rng, b, 0.01)
	rt := transpose(rotation(exact, q, b), b, b)
	if d := tensor.MaxAbsDiff(rt, rotation(Cayley{Neumann, 8}, q, b)); d > 1e-6 {
		t.Errorf("exact Rᵀ vs Neumann(8) for small Q: %.3g", d)
	}
}

// TestOrthogonalClosure: products and transposes of exact Cayley rotations
// stay orthogonal, and Rᵀ = R⁻¹.
func TestOrthogonalClosure(t *testing.T) {
	rng := tensor.NewRNG(4)
	exact := Cayley{Kind: Exact}
	for _, b := range []int{8, 32} {
		_, q1 := randSkew(rng, b, 0.5)
		_, q2 := randSkew(rng, b, 2)
		r1, r2 := rotation(exact, q1, b), rotation(exact, q2, b)
		prod := naiveMul(r1, r2, b, b, b)
		tr := transpose(r1, b, b)
		for name, m := range map[string][]float32{"R1·R2": prod, "R1ᵀ": tr, "R1ᵀ·R2·R1": naiveMul(naiveMul(tr, r2, b, b, b), r1, b, b, b)} {
			oe := OrthogonalityError(m, b)
			sign, _ := Determinant(m, b)
			if oe > 2e-6*float64(b) || sign != 1 {
				t.Errorf("b=%d %s: ‖MᵀM−I‖ %.3g det sign %d", b, name, oe, sign)
			}
		}
		inv := make([]float32, b*b)
		if err := Invert(r1, b, inv); err != nil {
			t.Fatal(err)
		}
		if d := tensor.MaxAbsDiff(inv, tr); d > 1e-6 {
			t.Errorf("b=%d: R⁻¹ vs Rᵀ differ by %.3g", b, d)
		}
	}
}

// TestNeumannOrthogonalityShrinks: for skew Q every series R is a
// polynomial in Q with Rᵀ = R(−Q), so RᵀR − I = R(−Q)R(Q) − I is even in Q
// and has a closed form: −4Q² (k = 2), −Q⁶ (new k = 3, 4), −2Q⁴ + Q⁸ (new
// k = 5), 4Q⁴ (legacy k = 3), 4Q⁶ + 4Q⁸ (legacy k = 5). The test checks
// OrthogonalityError against ‖that closed form‖_F, that the error falls
// monotonically as Q is scaled by 1, ½, ¼, ⅛, and that each halving divides
// it by at least half of 2^p for the leading power p, as long as the error
// is well above float32 rounding (1e-5). PEFT ≥ 0.18's default 5-term series
// is thus less orthogonal (O(‖Q‖⁴)) than its 3-term one (O(‖Q‖⁶)).
func TestNeumannOrthogonalityShrinks(t *testing.T) {
	rng := tensor.NewRNG(5)
	b := 16
	for _, tc := range []struct {
		c     Cayley
		std   float64
		p     int
		terms map[int]float64 // closed form of RᵀR − I: power → coefficient
	}{
		{Cayley{Neumann, 2}, 0.04, 2, map[int]float64{2: -4}},
		{Cayley{Neumann, 3}, 0.12, 6, map[int]float64{6: -1}},
		{Cayley{Neumann, 4}, 0.12, 6, map[int]float64{6: -1}},
		{Cayley{Neumann, 5}, 0.08, 4, map[int]float64{4: -2, 8: 1}},
		{Cayley{NeumannLegacy, 3}, 0.08, 4, map[int]float64{4: 4}},
		{Cayley{NeumannLegacy, 5}, 0.08, 6, map[int]float64{6: 4, 8: 4}},
	} {
		_, q0 := randSkew(rng, b, tc.std)
		prev := math.Inf(1)
		var line string
		for _, s := range []float64{1, 0.5, 0.25, 0.125} {
			q := make([]float32, b*b)
			for i := range q {
				q[i] = float32(s * float64(q0[i]))
			}
			oe := OrthogonalityError(rotation(tc.c, q, b), b)
			// ‖Σ c_p Q^p‖_F in float64.
			coefs := make([]float64, 9)
			for p, c := range tc.terms {
				coefs[p] = c
			}
			closed := seriesRef64(q, b, coefs)
			line += fmt.Sprintf(" s=%g: %.3g (closed form %.3g)", s, oe, closed)
			if math.Abs(oe-closed) > 1e-6+1e-3*closed {
				t.Errorf("%v at scale %g: ‖RᵀR−I‖ %.6g, closed form %.6g", tc.c, s, oe, closed)
			}
			if !(oe < prev) {
				t.Errorf("%v: error %.3g at scale %g did not fall below %.3g", tc.c, oe, s, prev)
			}
			if minDrop := math.Ldexp(0.5, tc.p); oe > 1e-5 && !(oe*minDrop <= prev) {
				t.Errorf("%v: error %.3g at scale %g is not %g× below %.3g", tc.c, oe, s, minDrop, prev)
			}
			prev = oe
		}
		t.Logf("%v ‖RᵀR−I‖:%s", tc.c, line)
	}
}

// seriesRef64 returns ‖Σ coefs[k]·Q^k‖_F computed in float64.
func seriesRef64(q []float32, b int, coefs []float64) float64 {
	q64 := make([]float64, b*b)
	widen(q64, q)
	p := make([]float64, b*b)
	setIdentity(p, b, 1)
	sum := make([]float64, b*b)
	t := make([]float64, b*b)
	for k, ck := range coefs {
		if k > 0 {
			mul(t, p, q64, b, false, false)
			p, t = t, p
		}
		for i := range sum {
			sum[i] += ck * p[i]
		}
	}
	return norm64(sum)
}

func TestInvert(t *testing.T) {
	rng := tensor.NewRNG(6)
	for _, b := range []int{1, 4, 16, 64} {
		_, q := randSkew(rng, b, 0.3)
		r := rotation(Cayley{Neumann, 5}, q, b)
		inv := make([]float32, b*b)
		if err := Invert(r, b, inv); err != nil {
			t.Fatalf("b=%d: %v", b, err)
		}
		if d := tensor.MaxAbsDiff(naiveMul(inv, r, b, b, b), identity(b)); d > 1e-5 {
			t.Errorf("b=%d: ‖R⁻¹R − I‖_max = %.3g", b, d)
		}
		if d := tensor.MaxAbsDiff(naiveMul(r, inv, b, b, b), identity(b)); d > 1e-5 {
			t.Errorf("b=%d: ‖RR⁻¹ − I‖_max = %.3g", b, d)
		}
		// in place
		cp := append([]float32(nil), r...)
		if err := Invert(cp, b, cp); err != nil || tensor.MaxAbsDiff(cp, inv) != 0 {
			t.Errorf("b=%d: in-place Invert differs (%v)", b, err)
		}
	}
	// Singular: rank one, a zero matrix, a duplicated row, and a float32
	// rank-deficient product.
	u, w := randVec(rng, 8, 1), randVec(rng, 8, 1)
	rank1 := naiveMul(u, w, 8, 1, 8)
	dup := randVec(rng, 16, 1)
	copy(dup[12:], dup[8:12])
	a, bm := randVec(rng, 8*3, 1), randVec(rng, 3*8, 1)
	rank3 := naiveMul(a, bm, 8, 3, 8)
	for name, tc := range map[string]struct {
		m []float32
		b int
	}{
		"[[1 2] [2 4]]": {[]float32{1, 2, 2, 4}, 2},
		"rank one 8×8":  {rank1, 8},
		"zero 3×3":      {make([]float32, 9), 3},
		"repeated row":  {dup, 4},
		"rank three":    {rank3, 8},
	} {
		out := make([]float32, tc.b*tc.b)
		err := Invert(tc.m, tc.b, out)
		if !errors.Is(err, ErrSingular) {
			t.Errorf("Invert(%s) = %v, want ErrSingular", name, err)
		}
		if sign, _ := Determinant(tc.m, tc.b); name == "[[1 2] [2 4]]" && sign != 0 {
			t.Errorf("Determinant(%s) sign %d, want 0", name, sign)
		}
	}
}

// TestDeterminant checks sign and log|det| on small known matrices.
func TestDeterminant(t *testing.T) {
	for _, tc := range []struct {
		m    []float32
		b    int
		sign int
		det  float64
	}{
		{[]float32{2, 0, 0, 3}, 2, 1, 6},
		{[]float32{0, 1, 1, 0}, 2, -1, 1},
		{[]float32{1, 2, 3, 4}, 2, -1, 2},
		{[]float32{0, 0, 1, 0, -2, 0, 4, 0, 0}, 3, 1, 8},
		{[]float32{0, 0, 0, 1}, 2, 0, 0},
	} {
		s, l := Determinant(tc.m, tc.b)
		if s != tc.sign || (s != 0 && math.Abs(l-math.Log(tc.det)) > 1e-12) {
			t.Errorf("Determinant(%v) = %d, e^%g; want %d·%g", tc.m, s, l, tc.sign, tc.det)
		}
	}
}

// TestEigenModuliNonOrthogonal: a random Gaussian matrix's moduli spread
// well away from 1, unlike an orthogonal matrix's.
func TestEigenModuliNonOrthogonal(t *testing.T) {
	rng := tensor.NewRNG(7)
	b := 16
	m := randVec(rng, b*b, 1)
	mods, err := EigenModuli(m, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Gaussian 16×16: |λ| from %.3g to %.3g", mods[0], mods[b-1])
	if mods[b-1]-mods[0] < 0.5 || len(mods) != b {
		t.Errorf("moduli %v: expected a spread", mods)
	}
	// Sorted ascending; a known diagonal/rotation case.
	mods, err = EigenModuli([]float32{0, -2, 0, 2, 0, 0, 0, 0, 0.5}, 3) // ±2i and 0.5
	if err != nil || len(mods) != 3 || math.Abs(mods[0]-0.5) > 1e-12 || math.Abs(mods[1]-2) > 1e-12 || math.Abs(mods[2]-2) > 1e-12 {
		t.Errorf("EigenModuli(known) = %v, %v; want [0.5 2 2]", mods, err)
	}
}

// TestCayleyBackwardFD checks dL/dv for L = Σ R(UnpackSkew(v))⊙G against
// Richardson finite differences, for all three kinds.
func TestCayleyBackwardFD(t *testing.T) {
	for _, tc := range []struct {
		c   Cayley
		b   int
		std float64
	}{
		{Cayley{Kind: Exact}, 8, 0.3},
		{Cayley{Kind: Exact}, 16, 1},
		{Cayley{Neumann, 1}, 4, 0.3},
		{Cayley{Neumann, 2}, 8, 0.3},
		{Cayley{Neumann, 3}, 8, 0.3},
		{Cayley{Neumann, 5}, 8, 0.3},
		{Cayley{Neumann, 5}, 16, 0.2},
		{Cayley{NeumannLegacy, 2}, 8, 0.3},
		{Cayley{NeumannLegacy, 3}, 8, 0.3},
		{Cayley{NeumannLegacy, 5}, 8, 0.3},
	} {
		t.Run(fmt.Sprintf("%v/b=%d", tc.c, tc.b), func(t *testing.T) {
			rng := tensor.NewRNG(uint64(10 + tc.b))
			b := tc.b
			v, q := randSkew(rng, b, tc.std)
			g := randVec(rng, b*b, 1)
			r := make([]float32, b*b)
			loss := func() float64 {
				UnpackSkew(v, b, q)
				tc.c.Rotation(q, b, r)
				return gradcheck.WeightedSum(r, g)
			}
			loss()
			dq := make([]float32, b*b)
			tc.c.Backward(q, r, g, b, dq)
			dv := make([]float32, len(v))
			SkewGrad(dq, b, dv)
			scale := gradcheck.MaxAbs(dv)
			if tc.c.Terms <= 1 && tc.c.Kind != Exact {
				if scale != 0 {
					t.Fatalf("identity series has gradient %.3g", scale)
				}
				return
			}
			worst := gradcheck.MaxError(v, dv, nil, gradcheck.WithStep(gradcheck.Richardson, 1e-2), loss)
			t.Logf("max |FD − analytic| / max|grad| = %.2g (max|grad| %.3g)", worst/scale, scale)
			if worst > 1e-3*scale {
				t.Errorf("max error %.3g against max|grad| %.3g", worst, scale)
			}
		})
	}
}

// TestCayleyAliasingAndConcurrency: r may alias q, dq may alias g, and
// concurrent calls (sharing the pooled workspaces) agree with serial ones.
func TestCayleyAliasingAndConcurrency(t *testing.T) {
	rng := tensor.NewRNG(40)
	b := 12
	for _, c := range []Cayley{{Kind: Exact}, {Neumann, 5}, {NeumannLegacy, 4}} {
		_, q := randSkew(rng, b, 0.5)
		g := randVec(rng, b*b, 1)
		r := rotation(c, q, b)
		dq := make([]float32, b*b)
		c.Backward(q, r, g, b, dq)

		inPlace := append([]float32(nil), q...)
		c.Rotation(inPlace, b, inPlace)
		gg := append([]float32(nil), g...)
		c.Backward(q, r, gg, b, gg)
		if tensor.MaxAbsDiff(inPlace, r) != 0 || tensor.MaxAbsDiff(gg, dq) != 0 {
			t.Errorf("%v: aliased results differ", c)
		}

		const n = 64
		rs, dqs := make([]float32, n*b*b), make([]float32, n*b*b)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.Rotation(q, b, rs[i*b*b:(i+1)*b*b])
				c.Backward(q, r, g, b, dqs[i*b*b:(i+1)*b*b])
			}()
		}
		wg.Wait()
		for i := range n {
			if tensor.MaxAbsDiff(rs[i*b*b:(i+1)*b*b], r) != 0 || tensor.MaxAbsDiff(dqs[i*b*b:(i+1)*b*b], dq) != 0 {
				t.Fatalf("%v: concurrent call %d differs", c, i)
			}
		}
	}
}
