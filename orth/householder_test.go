package orth

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/orthotune/orthotune/internal/gradcheck"
	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// hhNaive returns the dense H of PEFT's get_delta_weight in float64:
// the product of the reflections in column order, or I − 2QQᵀ after
// modified Gram–Schmidt.
func hhNaive(u []float32, in, r int, gs bool) []float64 {
	cols := make([][]float64, r)
	for i := range r {
		cols[i] = make([]float64, in)
		for k := range in {
			cols[i][k] = float64(u[k*r+i])
		}
	}
	unit := func(v []float64) {
		n := math.Sqrt(hhDot(v, v))
		for k := range v {
			v[k] /= n
		}
	}
	h := make([]float64, in*in)
	for k := range in {
		h[k*in+k] = 1
	}
	if gs {
		for i := range r {
			for j := range i {
				c := hhDot(cols[j], cols[i])
				for k := range in {
					cols[i][k] -= c * cols[j][k]
				}
			}
			unit(cols[i])
		}
		for p := range in {
			for q := range in {
				for i := range r {
					h[p*in+q] -= 2 * cols[i][p] * cols[i][q]
				}
			}
		}
		return h
	}
	for i := range r { // H ← H − 2(H u)uᵀ
		u := cols[i]
		unit(u)
		hu := make([]float64, in)
		for p := range in {
			hu[p] = hhDot(h[p*in:(p+1)*in], u)
		}
		for p := range in {
			for q := range in {
				h[p*in+q] -= 2 * hu[p] * u[q]
			}
		}
	}
	return h
}

func hhMaxDiff64(a []float32, b []float64) float64 {
	var m float64
	for i := range b {
		m = math.Max(m, math.Abs(float64(a[i])-b[i]))
	}
	return m
}

// TestHouseholderDense: the compact form equals PEFT's dense H, for even
// and odd r, r > in without Gram–Schmidt, and with Gram–Schmidt; Vectors
// are the unit vectors / Q; orthogonality error and determinant sign.
func TestHouseholderDense(t *testing.T) {
	for _, tc := range []struct {
		in, r int
		gs    bool
	}{{12, 4, false}, {12, 5, false}, {6, 9, false}, {12, 4, true}, {12, 7, true}, {5, 1, false}} {
		rng := tensor.NewRNG(uint64(tc.in*100 + tc.r))
		u := rng.Randn(0.3, tc.in, tc.r).Data
		h := NewHouseholder(u, tc.in, tc.r, tc.gs)
		want := hhNaive(u, tc.in, tc.r, tc.gs)
		if d := hhMaxDiff64(h.Dense(), want); d > 1e-6 {
			t.Errorf("in %d r %d gs %v: dense H differs from the naive product by %g", tc.in, tc.r, tc.gs, d)
		}
		if e := h.OrthogonalityError(); e > 1e-12 {
			t.Errorf("in %d r %d gs %v: ‖HᵀH − I‖ = %g", tc.in, tc.r, tc.gs, e)
		}
		wantSign := 1
		if tc.r%2 == 1 {
			wantSign = -1
		}
		if sign, logAbs := h.Determinant(); sign != wantSign || math.Abs(logAbs) > 1e-12 {
			t.Errorf("in %d r %d gs %v: det sign %d log|det| %g, want %d and 0", tc.in, tc.r, tc.gs, sign, logAbs, wantSign)
		}
		// Applying H: rows, transposed rows, from the left, the inverse.
		rows, cols := 3, 4
		x := rng.Randn(1, rows, tc.in).Data
		w := rng.Randn(1, tc.in, cols).Data
		dense := h.Dense()
		out := make([]float32, rows*tc.in)
		h.RowsT(x, rows, out)
		hhCheck(t, "x·Hᵀ", out, naiveMul(x, transpose(dense, tc.in, tc.in), rows, tc.in, tc.in))
		h.Rows(x, rows, out)
		hhCheck(t, "x·H", out, naiveMul(x, dense, rows, tc.in, tc.in))
		lout := make([]float32, tc.in*cols)
		h.LeftT(w, cols, lout)
		hhCheck(t, "Hᵀ·W", lout, naiveMul(transpose(dense, tc.in, tc.in), w, tc.in, tc.in, cols))
		h.Left(w, cols, lout)
		hhCheck(t, "H·W", lout, naiveMul(dense, w, tc.in, tc.in, cols))
		inv, err := h.Inverse()
		if err != nil {
			t.Fatal(err)
		}
		h.Rows(x, rows, out)
		inv.Rows(out, rows, out) // in place
		hhCheck(t, "x·H·H⁻¹", out, x)
	}
}

func hhCheck(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if d := tensor.MaxAbsDiff(got, want); d > 2e-5 {
		t.Errorf("%s differs by %g", what, d)
	}
}

// TestHouseholderDependentColumns: PEFT's default init with apply_GS
// duplicates every column; DependentColumn finds the first duplicate, and
// independent columns pass.
func TestHouseholderDependentColumns(t *testing.T) {
	in, r := 16, 4
	rng := tensor.NewRNG(3)
	half := rng.Randn(0.3, in, r/2).Data
	u := make([]float32, in*r)
	for k := range in {
		for i := range r {
			u[k*r+i] = half[k*(r/2)+i/2]
		}
	}
	if i, rel := NewHouseholder(u, in, r, true).DependentColumn(1e-5); i != 1 {
		t.Errorf("duplicated columns: DependentColumn = %d (%g), want 1", i, rel)
	}
	if i, _ := NewHouseholder(u, in, r, false).DependentColumn(1e-5); i != -1 {
		t.Errorf("without Gram–Schmidt: DependentColumn = %d, want -1", i)
	}
	if i, rel := NewHouseholder(rng.Randn(0.3, in, r).Data, in, r, true).DependentColumn(1e-5); i != -1 {
		t.Errorf("random columns: DependentColumn = %d (%g), want -1", i, rel)
	}
}

// TestHouseholderBackward checks dL/dU against finite differences for
// L = Σ (x·Hᵀ)∘G, with and without Gram–Schmidt, even and odd r.
func TestHouseholderBackward(t *testing.T) {
	for _, tc := range []struct {
		in, r int
		gs    bool
	}{{10, 4, false}, {10, 3, false}, {4, 6, false}, {10, 4, true}, {10, 5, true}} {
		rng := tensor.NewRNG(uint64(7 + tc.r))
		rows := 6
		u := rng.Randn(0.5, tc.in, tc.r).Data
		x := rng.Randn(1, rows, tc.in).Data
		g := rng.Randn(1, rows, tc.in).Data
		out := make([]float32, rows*tc.in)
		loss := func() float64 {
			NewHouseholder(u, tc.in, tc.r, tc.gs).RowsT(x, rows, out)
			return gradcheck.WeightedSum(out, g)
		}
		du := make([]float32, tc.in*tc.r)
		NewHouseholder(u, tc.in, tc.r, tc.gs).Backward(x, g, rows, du)
		est := gradcheck.WithStep(gradcheck.Richardson, 1e-2)
		rel := gradcheck.MaxError(u, du, nil, est, loss) / gradcheck.MaxAbs(du)
		t.Logf("in %d r %d gs %v: max relative error %.3g", tc.in, tc.r, tc.gs, rel)
		if rel > 2e-3 || math.IsNaN(rel) {
			t.Errorf("in %d r %d gs %v: relative error %.3g", tc.in, tc.r, tc.gs, rel)
		}
	}
}

// TestHouseholderPEFTReference: H and the unit vectors / Q of the HRA
// layer cases in testdata/peft-ref-ortho.
func TestHouseholderPEFTReference(t *testing.T) {
	dir := filepath.Join(testref.Dir()+"-ortho", "layer")
	for _, tc := range []struct {
		name, vectors string
		gs            bool
	}{{"hra_r8", "hra_unit_u", false}, {"hra_r7", "hra_unit_u", false}, {"hra_r8_gs", "hra_gs_q", true}, {"hra_conv1d", "hra_unit_u", false}} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := safetensors.Open(filepath.Join(dir, tc.name+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			u, err := f.Float32("hra_u")
			if err != nil {
				t.Fatal(err)
			}
			in, r := u.Shape[0], u.Shape[1]
			h := NewHouseholder(u.Data, in, r, tc.gs)
			for _, c := range []struct {
				name string
				got  []float32
				atol float64
			}{{"rotation", h.Dense(), 2e-6}, {tc.vectors, h.Vectors(), 4e-7}} {
				want, err := f.Float32(c.name)
				if err != nil {
					t.Fatal(err)
				}
				d := tensor.MaxAbsDiff(c.got, want.Data)
				t.Logf("%s: max |Δ| %.3g (tolerance %.3g)", c.name, d, c.atol)
				if d > c.atol {
					t.Errorf("%s differs by %.3g > %.3g", c.name, d, c.atol)
				}
			}
		})
	}
}

// TestHouseholderAllocations: rebuilding H into the same Householder,
// applying it and taking its gradient allocate nothing in steady state.
func TestHouseholderAllocations(t *testing.T) {
	if testing.CoverMode() != "" || raceBuild() {
		t.Skip("coverage and the race detector allocate on their own")
	}
	in, r, rows := 32, 6, 20
	rng := tensor.NewRNG(2)
	u := rng.Randn(0.3, in, r).Data
	x := rng.Randn(1, rows, in).Data
	dz := rng.Randn(1, rows, in).Data
	out := make([]float32, rows*in)
	du := make([]float32, in*r)
	for _, gs := range []bool{false, true} {
		h := NewHouseholder(u, in, r, gs)
		step := func() {
			h.Set(u, in, r, gs)
			h.RowsT(x, rows, out)
			h.Backward(x, dz, rows, du)
			h.Rows(dz, rows, out)
		}
		step()
		if n := testing.AllocsPerRun(20, step); n > 0.5 {
			t.Errorf("gs=%v: %.1f allocations per step", gs, n)
		}
	}
}

func BenchmarkHouseholderForwardBackward(b *testing.B) {
	in, r, rows := 1024, 8, 512
	rng := tensor.NewRNG(2)
	u := rng.Randn(0.3, in, r).Data
	x := rng.Randn(1, rows, in).Data
	dz := rng.Randn(1, rows, in).Data
	out := make([]float32, rows*in)
	du := make([]float32, in*r)
	h := NewHouseholder(u, in, r, false)
	for b.Loop() {
		h.Set(u, in, r, false)
		h.RowsT(x, rows, out)
		h.Backward(x, dz, rows, du)
		h.Rows(dz, rows, out)
	}
}
