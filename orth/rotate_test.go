package orth

import (
	"fmt"
	"slices"
	"testing"

	"github.com/orthotune/orthotune/internal/gradcheck"
	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/tensor"
)

// TestRotateAgainstBlockDiagonal compares every block-diagonal routine with
// naive products against BlockDiagonal's full matrix.
func TestRotateAgainstBlockDiagonal(t *testing.T) {
	rng := tensor.NewRNG(20)
	for _, tc := range []struct {
		rows, n, b int
		shared     bool
	}{
		{1, 1, 4, false}, {7, 3, 8, false}, {7, 3, 8, true}, {33, 4, 16, false},
		{33, 4, 16, true}, {5, 2, 64, false}, {130, 8, 32, false}, {130, 8, 32, true},
	} {
		name := fmt.Sprintf("rows=%d n=%d b=%d shared=%v", tc.rows, tc.n, tc.b, tc.shared)
		b, width := tc.b, tc.n*tc.b
		nb := tc.n
		if tc.shared {
			nb = 1
		}
		blocks := randVec(rng, nb*b*b, 0.3) // general matrices, not rotations
		full := BlockDiagonal(blocks, tc.n, b, tc.shared)
		x := randVec(rng, tc.rows*width, 1)
		out := make([]float32, tc.rows*width)
		const tol = 2e-5

		RotateRows(x, tc.rows, width, b, blocks, tc.shared, out)
		if d := tensor.MaxAbsDiff(out, naiveMul(x, full, tc.rows, width, width)); d > tol {
			t.Errorf("%s: RotateRows off by %.3g", name, d)
		}
		RotateRowsT(x, tc.rows, width, b, blocks, tc.shared, out)
		if d := tensor.MaxAbsDiff(out, naiveMul(x, transpose(full, width, width), tc.rows, width, width)); d > tol {
			t.Errorf("%s: RotateRowsT off by %.3g", name, d)
		}

		// BlockGrad accumulates: start from ones.
		dy := randVec(rng, tc.rows*width, 1)
		db := make([]float32, nb*b*b)
		for i := range db {
			db[i] = 1
		}
		BlockGrad(x, dy, tc.rows, width, b, tc.shared, db)
		fullGrad := naiveMul(transpose(x, tc.rows, width), dy, width, tc.rows, width)
		want := make([]float32, nb*b*b)
		for i := range tc.n {
			dst := want
			if !tc.shared {
				dst = want[i*b*b:]
			}
			for r := range b {
				for c := range b {
					dst[r*b+c] += fullGrad[(i*b+r)*width+i*b+c]
				}
			}
		}
		for i := range want {
			want[i]++
		}
		if d := tensor.MaxAbsDiff(db, want); d > 1e-4 {
			t.Errorf("%s: BlockGrad off by %.3g", name, d)
		}

		// Linear merge: W (out×in) ← W·R_bdᵀ; Conv1D: W (in×out) ← R_bd·W.
		out2 := 5
		w := randVec(rng, out2*width, 1)
		wl := append([]float32(nil), w...)
		RotateWeightLinear(wl, out2, width, b, blocks, tc.shared)
		if d := tensor.MaxAbsDiff(wl, naiveMul(w, transpose(full, width, width), out2, width, width)); d > tol {
			t.Errorf("%s: RotateWeightLinear off by %.3g", name, d)
		}
		wc := transpose(w, out2, width) // (in, out)
		want2 := naiveMul(full, wc, width, width, out2)
		RotateWeightConv1D(wc, width, out2, b, blocks, tc.shared)
		if d := tensor.MaxAbsDiff(wc, want2); d > tol {
			t.Errorf("%s: RotateWeightConv1D off by %.3g", name, d)
		}
	}
}

// TestRotateRowsFD checks dx (RotateRowsT) and dR (BlockGrad) of
// L = Σ RotateRows(x)⊙G against Richardson finite differences.
func TestRotateRowsFD(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			rng := tensor.NewRNG(21)
			rows, n, b := 6, 3, 8
			width := n * b
			nb := n
			if shared {
				nb = 1
			}
			blocks := make([]float32, nb*b*b)
			for i := range nb {
				_, q := randSkew(rng, b, 0.4)
				Cayley{Kind: Exact}.Rotation(q, b, blocks[i*b*b:(i+1)*b*b])
			}
			x := randVec(rng, rows*width, 1)
			g := randVec(rng, rows*width, 1)
			y := make([]float32, rows*width)
			loss := func() float64 {
				RotateRows(x, rows, width, b, blocks, shared, y)
				return gradcheck.WeightedSum(y, g)
			}
			dx := make([]float32, rows*width)
			RotateRowsT(g, rows, width, b, blocks, shared, dx)
			db := make([]float32, nb*b*b)
			BlockGrad(x, g, rows, width, b, shared, db)
			est := gradcheck.WithStep(gradcheck.Richardson, 1e-2)
			ex := gradcheck.MaxError(x, dx, nil, est, loss) / gradcheck.MaxAbs(dx)
			eb := gradcheck.MaxError(blocks, db, nil, est, loss) / gradcheck.MaxAbs(db)
			t.Logf("max relative FD error: dx %.2g, dR %.2g", ex, eb)
			if ex > 1e-3 || eb > 1e-3 {
				t.Errorf("FD errors dx %.3g, dR %.3g (relative to max |grad|)", ex, eb)
			}
		})
	}
}

func TestRotatePanicsOnBadShapes(t *testing.T) {
	for name, f := range map[string]func(){
		"width not multiple": func() { RotateRows(make([]float32, 10), 1, 10, 4, make([]float32, 48), false, make([]float32, 10)) },
		"short blocks":       func() { RotateRows(make([]float32, 8), 1, 8, 4, make([]float32, 16), false, make([]float32, 8)) },
		"short out":          func() { RotateRowsT(make([]float32, 8), 1, 8, 4, make([]float32, 16), true, make([]float32, 4)) },
		"conv1d in":          func() { RotateWeightConv1D(make([]float32, 30), 10, 3, 4, make([]float32, 48), false) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// BenchmarkRotateRows: a 4096-wide layer, b = 32 (128 blocks), 512 tokens.
func BenchmarkRotateRows(bm *testing.B) {
	rng := tensor.NewRNG(22)
	rows, b, width := 512, 32, 4096
	blocks := randVec(rng, width*b, 0.1)
	x := randVec(rng, rows*width, 1)
	y := make([]float32, rows*width)
	bm.ReportAllocs()
	for bm.Loop() {
		RotateRows(x, rows, width, b, blocks, false, y)
	}
}

func BenchmarkBlockGrad(bm *testing.B) {
	rng := tensor.NewRNG(23)
	rows, b, width := 512, 32, 4096
	x := randVec(rng, rows*width, 1)
	dy := randVec(rng, rows*width, 1)
	db := make([]float32, width*b)
	bm.ReportAllocs()
	for bm.Loop() {
		BlockGrad(x, dy, rows, width, b, false, db)
	}
}

func BenchmarkRotationNeumann5(bm *testing.B) {
	rng := tensor.NewRNG(24)
	b := 32
	_, q := randSkew(rng, b, 0.1)
	r := make([]float32, b*b)
	bm.ReportAllocs()
	for bm.Loop() {
		Cayley{Neumann, 5}.Rotation(q, b, r)
	}
}

func BenchmarkRotationExact(bm *testing.B) {
	rng := tensor.NewRNG(25)
	b := 32
	_, q := randSkew(rng, b, 0.1)
	r := make([]float32, b*b)
	bm.ReportAllocs()
	for bm.Loop() {
		Cayley{Kind: Exact}.Rotation(q, b, r)
	}
}

// TestRotateBackwardMatchesSeparateCalls checks the fused backward against
// RotateRowsT and BlockGrad called one after the other, bit for bit, with
// a gradient that already holds values (BlockGrad accumulates).
func TestRotateBackwardMatchesSeparateCalls(t *testing.T) {
	rng := tensor.NewRNG(21)
	for _, tc := range []struct{ rows, width, b int }{{5, 12, 4}, {70, 96, 32}, {1, 8, 8}} {
		n := tc.width / tc.b
		x := randVec(rng, tc.rows*tc.width, 1)
		dy := randVec(rng, tc.rows*tc.width, 1)
		blocks := make([]float32, n*tc.b*tc.b)
		for i := range n {
			_, q := randSkew(rng, tc.b, 0.2)
			copy(blocks[i*tc.b*tc.b:], rotation(Cayley{Kind: Neumann, Terms: 5}, q, tc.b))
		}
		start := randVec(rng, len(blocks), 1)
		wantDX, wantG := make([]float32, len(x)), slices.Clone(start)
		RotateRowsT(dy, tc.rows, tc.width, tc.b, blocks, false, wantDX)
		BlockGrad(x, dy, tc.rows, tc.width, tc.b, false, wantG)
		gotDX, gotG := make([]float32, len(x)), slices.Clone(start)
		RotateBackward(x, dy, tc.rows, tc.width, tc.b, blocks, gotDX, gotG)
		if !slices.Equal(gotDX, wantDX) || !slices.Equal(gotG, wantG) {
			t.Errorf("%+v: RotateBackward differs from RotateRowsT + BlockGrad", tc)
		}
	}
}

// BenchmarkRotateReplica: a SmolLM2-sized layer's rotations (512 tokens,
// 576 wide, b = 32) on one thread, as each replica of a data-parallel step
// runs them, with the operands in cache (hot) and, as in a training step,
// not (cold: each call on the next of 48 inputs and outputs, 108 MiB).
func BenchmarkRotateReplica(bm *testing.B) {
	defer kernels.SetThreads(kernels.SetThreads(1))
	rng := tensor.NewRNG(24)
	rows, b, width := 512, 32, 576
	blocks := randVec(rng, width*b, 0.1)
	const ring = 48
	var xs, dys, ys [ring][]float32
	for i := range ring {
		xs[i], dys[i], ys[i] = randVec(rng, rows*width, 1), randVec(rng, rows*width, 1), make([]float32, rows*width)
	}
	db := make([]float32, width*b)
	flops := 2 * float64(rows) * float64(width) * float64(b)
	for _, cold := range []bool{false, true} {
		next := func(i int) int {
			if cold {
				return i % ring
			}
			return 0
		}
		suffix := "/hot"
		if cold {
			suffix = "/cold"
		}
		bm.Run("forward"+suffix, func(bm *testing.B) {
			i := 0
			for bm.Loop() {
				RotateRows(xs[next(i)], rows, width, b, blocks, false, ys[next(i)])
				i++
			}
			bm.ReportMetric(flops*float64(bm.N)/bm.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		bm.Run("backward"+suffix, func(bm *testing.B) {
			i := 0
			for bm.Loop() {
				RotateBackward(xs[next(i)], dys[next(i)], rows, width, b, blocks, ys[next(i)], db)
				i++
			}
			bm.ReportMetric(2*flops*float64(bm.N)/bm.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
