package orth

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/orthotune/orthotune/internal/gradcheck"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// seq returns lo, lo+1, …, hi−1.
func seq(lo, hi int) []int {
	var out []int
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// TestButterflyPermExamples: SEMANTICS.md's examples and the identity
// cases.
func TestButterflyPermExamples(t *testing.T) {
	// n = 64, D = 4, b = 16, 2 factors: perm_1 swaps the 2nd and 3rd
	// quarter of each group of 32.
	var want []int
	for _, lohi := range [][2]int{{0, 8}, {16, 24}, {8, 16}, {24, 32}, {32, 40}, {48, 56}, {40, 48}, {56, 64}} {
		want = append(want, seq(lohi[0], lohi[1])...)
	}
	if got := ButterflyPerm(64, 16, 1, 2); !slices.Equal(got, want) {
		t.Errorf("perm_1(64, b 16) = %v, want %v", got, want)
	}
	// b = 4, perm_2: chunks of 2 in the order 0,2,4,6,1,3,5,7 inside groups of 16.
	want = nil
	for g := 0; g < 32; g += 16 {
		for _, c := range []int{0, 2, 4, 6, 1, 3, 5, 7} {
			want = append(want, g+2*c, g+2*c+1)
		}
	}
	if got := ButterflyPerm(32, 4, 2, 3); !slices.Equal(got, want) {
		t.Errorf("perm_2(32, b 4) = %v, want %v", got, want)
	}
	for _, tc := range [][3]int{{64, 8, 1}, {64, 8, 2}, {32, 4, 3}} {
		if got := ButterflyPerm(tc[0], tc[1], 0, tc[2]); !slices.Equal(got, seq(0, tc[0])) {
			t.Errorf("perm_0 of %v is not the identity: %v", tc, got)
		}
	}
}

func TestCheckButterfly(t *testing.T) {
	for _, tc := range []struct {
		n, b, m int
		ok      bool
	}{
		{64, 8, 1, true}, {64, 8, 4, true}, {64, 8, 5, false}, {64, 7, 1, false}, {24, 3, 1, true},
		{24, 3, 2, false}, {24, 4, 2, true}, {24, 4, 3, false}, {64, 16, 3, true}, {64, 8, 0, false},
	} {
		err := CheckButterfly(tc.n, tc.b, tc.m)
		if (err == nil) != tc.ok {
			t.Errorf("CheckButterfly(%d, %d, %d) = %v, want ok %v", tc.n, tc.b, tc.m, err, tc.ok)
		}
	}
}

// denseRef returns x·M with M from Matrix, in float64.
func denseMul(x []float32, rows, n int, m []float32, transpose bool) []float32 {
	out := make([]float32, rows*n)
	for r := range rows {
		for c := range n {
			var acc float64
			for k := range n {
				v := m[k*n+c]
				if transpose {
					v = m[c*n+k]
				}
				acc += float64(x[r*n+k]) * float64(v)
			}
			out[r*n+c] = float32(acc)
		}
	}
	return out
}

func randomButterfly(t *testing.T, n, b, m int, seed uint64) (*Butterfly, []float32) {
	t.Helper()
	bf, err := NewButterfly(n, b, m)
	if err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(seed)
	q := rng.Randn(0.3, bf.NumBlockValues()).Data
	for i := range m * bf.Blocks { // skew blocks
		blk := q[i*b*b : (i+1)*b*b]
		for r := range b {
			blk[r*b+r] = 0
			for c := r + 1; c < b; c++ {
				blk[c*b+r] = -blk[r*b+c]
			}
		}
	}
	blocks := make([]float32, len(q))
	Cayley{Kind: Exact}.Rotations(q, m*bf.Blocks, b, blocks)
	return bf, blocks
}

// TestButterflyAgainstDense: Rotate, RotateT and the merged weights agree
// with the dense M for 1, 2 and 3 factors, M is orthogonal, and RotateT
// inverts Rotate.
func TestButterflyAgainstDense(t *testing.T) {
	for _, tc := range [][3]int{{24, 8, 1}, {32, 4, 2}, {32, 4, 3}, {64, 8, 4}} {
		n, b, m := tc[0], tc[1], tc[2]
		t.Run(fmt.Sprintf("n%d_b%d_m%d", n, b, m), func(t *testing.T) {
			bf, blocks := randomButterfly(t, n, b, m, uint64(n+m))
			M := bf.Matrix(blocks)
			rows := 5
			x := tensor.NewRNG(3).Randn(1, rows, n).Data
			got := make([]float32, rows*n)
			trace := make([]float32, bf.TraceLen(rows))
			bf.Rotate(x, rows, blocks, got, trace)
			assertClose(t, "x·M", got, denseMul(x, rows, n, M, false), 1e-5)
			bf.Rotate(x, rows, blocks, got, nil)
			assertClose(t, "x·M without trace", got, denseMul(x, rows, n, M, false), 1e-5)
			back := make([]float32, rows*n)
			bf.RotateT(got, rows, blocks, back)
			assertClose(t, "x·M·Mᵀ", back, x, 1e-5)
			if e := bf.OrthogonalityError(blocks); e > 1e-5 {
				t.Errorf("‖MᵀM − I‖_F = %g", e)
			}
			if s := bf.DeterminantSign(blocks); s != 1 {
				t.Errorf("det sign %d", s)
			}
			// Merged weights: Linear W·Mᵀ, Conv1D M·W.
			out := 6
			w := tensor.NewRNG(4).Randn(1, out, n).Data
			wl := make([]float32, out*n)
			bf.LinearWeight(w, out, blocks, wl)
			assertClose(t, "W·Mᵀ", wl, denseMul(w, out, n, M, true), 1e-5)
			wc := make([]float32, n*out)
			transposeRect(wc, w, out, n) // (n, out)
			mw := make([]float32, n*out)
			bf.Conv1DWeight(wc, out, blocks, mw)
			want := make([]float32, n*out)
			transposeRect(want, denseMul(w, out, n, M, true), out, n)
			assertClose(t, "M·W", mw, want, 1e-5)
		})
	}
}

// TestButterflyBackwardFD: dx and dblocks of Σ (x·M)⊙G against finite
// differences, treating the blocks as free matrices.
func TestButterflyBackwardFD(t *testing.T) {
	for _, tc := range [][3]int{{24, 8, 1}, {16, 4, 2}, {32, 4, 3}} {
		n, b, m := tc[0], tc[1], tc[2]
		t.Run(fmt.Sprintf("m%d", m), func(t *testing.T) {
			bf, blocks := randomButterfly(t, n, b, m, 7)
			rows := 3
			rng := tensor.NewRNG(11)
			x, g := rng.Randn(1, rows, n).Data, rng.Randn(1, rows, n).Data
			out := make([]float32, rows*n)
			trace := make([]float32, bf.TraceLen(rows))
			loss := func() float64 {
				bf.Rotate(x, rows, blocks, out, trace)
				return gradcheck.WeightedSum(out, g)
			}
			loss()
			dx := make([]float32, rows*n)
			db := make([]float32, len(blocks))
			bf.Backward(x, trace, g, rows, blocks, dx, db)
			dx2 := make([]float32, rows*n)
			bf.Backward(nil, nil, g, rows, blocks, dx2, nil)
			assertClose(t, "dx with and without block gradients", dx2, dx, 0)
			est := gradcheck.WithStep(gradcheck.Richardson, 1e-2)
			ex := gradcheck.MaxError(x, dx, nil, est, loss) / gradcheck.MaxAbs(dx)
			eb := gradcheck.MaxError(blocks, db, nil, est, loss) / gradcheck.MaxAbs(db)
			t.Logf("relative errors: dx %.3g, dblocks %.3g", ex, eb)
			if ex > 1e-3 || eb > 1e-3 || math.IsNaN(ex+eb) {
				t.Errorf("relative errors dx %.3g, dblocks %.3g exceed 1e-3", ex, eb)
			}
		})
	}
}

// TestButterflyReference: the permutations (exactly) and the rotation of
// every BOFT layer reference case.
func TestButterflyReference(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n, b, m int
	}{{"boft_b8_f1", 64, 8, 1}, {"boft_bn4_f2", 64, 16, 2}, {"boft_bn4_f2_nocuda", 64, 16, 1}, {"boft_conv1d", 64, 8, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := safetensors.Open(filepath.Join("..", "testdata", "peft-ref-ortho", "layer", tc.name+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			bf, err := NewButterfly(tc.n, tc.b, tc.m)
			if err != nil {
				t.Fatal(err)
			}
			perm, shape, err := f.Int64("boft_perm")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(shape, []int{tc.m, tc.n}) {
				t.Fatalf("boft_perm shape %v", shape)
			}
			for i := range tc.m {
				for k, v := range bf.Perm(i) {
					if int64(v) != perm[i*tc.n+k] {
						t.Fatalf("perm_%d[%d] = %d, reference %d", i, k, v, perm[i*tc.n+k])
					}
				}
			}
			blocks, err := f.Float32("boft_blocks")
			if err != nil {
				t.Fatal(err)
			}
			rot, err := f.Float32("rotation")
			if err != nil {
				t.Fatal(err)
			}
			d := tensor.MaxAbsDiff(bf.Matrix(blocks.Data), rot.Data)
			t.Logf("rotation max |Δ| %.3g", d)
			if d > 3e-6 {
				t.Errorf("rotation differs from the reference by %.3g", d)
			}
		})
	}
}

// TestButterflyAllocations: a steady-state Rotate and Backward allocate
// nothing per call beyond pooled scratch.
func TestButterflyAllocations(t *testing.T) {
	if testing.CoverMode() != "" || raceBuild() {
		t.Skip("coverage and the race detector allocate on their own")
	}
	bf, blocks := randomButterfly(t, 32, 4, 3, 1)
	rows := 16
	x := tensor.NewRNG(1).Randn(1, rows, 32).Data
	out, dx := make([]float32, rows*32), make([]float32, rows*32)
	trace := make([]float32, bf.TraceLen(rows))
	db := make([]float32, len(blocks))
	run := func() {
		bf.Rotate(x, rows, blocks, out, trace)
		bf.Backward(x, trace, out, rows, blocks, dx, db)
	}
	run()
	if a := testing.AllocsPerRun(20, run); a > 2 {
		t.Errorf("%.1f allocations per Rotate+Backward", a)
	}
}

// raceBuild reports whether the test binary was built with -race (whose
// sync.Pool drops items at random).
func raceBuild() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				return true
			}
		}
	}
	return false
}
