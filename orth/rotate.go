package orth

import (
	"fmt"
	"sync"

	"github.com/orthotune/orthotune/kernels"
)

// Block-diagonal application. x is rows×width, row-major, width = n·b;
// chunk i of x is its columns [i·b, (i+1)·b), a rows×b matrix with leading
// dimension width. blocks holds n b×b matrices (block i at i·b·b) or, when
// shared, one b×b matrix used for every chunk.

// rotJob carries one RotateLeft call to ParallelFor's goroutines; pooled
// with its run method value bound once, so that calls do not allocate.
type rotJob struct {
	x, y, blocks []float32
	width, b     int
	shared       bool
	run          func(lo, hi int)
}

var rotPool = sync.Pool{New: func() any {
	j := new(rotJob)
	j.run = j.do
	return j
}}

func (j *rotJob) block(i int) []float32 {
	if j.shared {
		return j.blocks
	}
	return j.blocks[i*j.b*j.b:]
}

// do computes the row bands [lo, hi): x and y are (n·b)×w, band i rows
// [i·b, (i+1)·b), y's band R_i times x's.
func (j *rotJob) do(lo, hi int) {
	b, w := j.b, j.width
	for i := lo; i < hi; i++ {
		off := i * b * w
		kernels.Gemm(false, false, b, w, b, 1, j.block(i), b, j.x[off:], w, 0, j.y[off:], w)
	}
}

func checkRotate(fn string, x []float32, rows, width, b int, blocks []float32, shared bool, out []float32) {
	if b < 1 || width < 0 || rows < 0 || width%b != 0 {
		panic(fmt.Sprintf("orth.%s: width %d is not a multiple of block size %d (rows %d)", fn, width, b, rows))
	}
	nb := width / b
	if shared {
		nb = 1
	}
	if len(x) < rows*width || len(out) < rows*width || len(blocks) < nb*b*b {
		panic(fmt.Sprintf("orth.%s: %d×%d with %d block(s) of %d×%d needs %d, %d and %d values; got x %d, out %d, blocks %d",
			fn, rows, width, nb, b, b, rows*width, rows*width, nb*b*b, len(x), len(out), len(blocks)))
	}
}

// RotateRows sets out chunk i = x chunk i · R_i (each row vector times its
// block), OFT's input-centric forward, by kernels.GemmBlockDiag. out must
// not alias x.
func RotateRows(x []float32, rows, width, b int, blocks []float32, shared bool, out []float32) {
	checkRotate("RotateRows", x, rows, width, b, blocks, shared, out)
	if rows == 0 || width == 0 {
		return
	}
	if shared {
		// All chunks of all rows form one (rows·n)×b matrix.
		kernels.Gemm(false, false, rows*width/b, b, b, 1, x, b, blocks, b, 0, out, b)
		return
	}
	kernels.GemmBlockDiag(rows, width/b, b, x, width, blocks, out, width)
}

// RotateRowsT sets out chunk i = x chunk i · R_iᵀ: the input gradient of
// RotateRows (dx from dy), and the inverse rotation when the blocks are
// orthogonal. out must not alias x.
func RotateRowsT(x []float32, rows, width, b int, blocks []float32, shared bool, out []float32) {
	checkRotate("RotateRowsT", x, rows, width, b, blocks, shared, out)
	if rows == 0 || width == 0 {
		return
	}
	if shared {
		kernels.Gemm(false, true, rows*width/b, b, b, 1, x, b, blocks, b, 0, out, b)
		return
	}
	// x·Rᵀ with a transposed operand runs slower than x·R in OpenBLAS for
	// these thin shapes, so the blocks are transposed first (b² values
	// each) and multiplied plainly.
	n := width / b
	t := getScratch(n * b * b)
	for i := range n {
		transposeInto((*t)[i*b*b:(i+1)*b*b], blocks[i*b*b:(i+1)*b*b], b)
	}
	kernels.GemmBlockDiag(rows, n, b, x, width, *t, out, width)
	putScratch(t)
}

// BlockGrad accumulates the gradient of RotateRows with respect to its
// blocks: dR_i += x_iᵀ·dy_i summed over rows, into block i of dblocks, or
// for shared blocks, every chunk's contribution into the single block.
func BlockGrad(x, dy []float32, rows, width, b int, shared bool, dblocks []float32) {
	checkRotate("BlockGrad", x, rows, width, b, dblocks, shared, dy)
	if rows == 0 || width == 0 {
		return
	}
	if shared {
		kernels.Gemm(true, false, b, b, rows*width/b, 1, x, b, dy, b, 1, dblocks, b)
		return
	}
	kernels.GemmBlockDiagGrad(rows, width/b, b, x, width, dy, width, dblocks)
}

// RotateBackward is RotateRowsT(dy, …, dx) and BlockGrad(x, dy, …, dblocks)
// for separate (not shared) blocks: the input gradient and the blocks'
// gradient of RotateRows. dx must not alias x or dy.
func RotateBackward(x, dy []float32, rows, width, b int, blocks, dx, dblocks []float32) {
	checkRotate("RotateBackward", x, rows, width, b, blocks, false, dx)
	checkRotate("RotateBackward", dy, rows, width, b, dblocks, false, dx)
	if rows == 0 || width == 0 {
		return
	}
	RotateRowsT(dy, rows, width, b, blocks, false, dx)
	kernels.GemmBlockDiagGrad(rows, width/b, b, x, width, dy, width, dblocks)
}

// RotateWeightLinear merges a rotation into an nn.Linear weight (out, in),
// in place: W ← W·R_bdᵀ, so that x·R_bd·Wᵀ = x·(W·R_bdᵀ)ᵀ. in must be a
// multiple of b. It allocates one copy of W.
func RotateWeightLinear(w []float32, out, in, b int, blocks []float32, shared bool) {
	checkRotate("RotateWeightLinear", w, out, in, b, blocks, shared, w)
	src := make([]float32, out*in)
	copy(src, w)
	RotateRowsT(src, out, in, b, blocks, shared, w)
}

// RotateWeightConv1D merges a rotation into a GPT-2 Conv1D weight (in, out),
// in place: W ← R_bd·W, so that x·R_bd·W = x·(R_bd·W). in must be a
// multiple of b. It allocates one copy of W.
func RotateWeightConv1D(w []float32, in, out, b int, blocks []float32, shared bool) {
	src := make([]float32, len(w))
	copy(src, w)
	RotateLeft(src, in, out, b, blocks, shared, w)
}

// RotateLeft sets dst = R_bd·w for an (in, out) matrix w, in a multiple of
// b: row band i (rows [i·b, (i+1)·b)) becomes R_i times that band. dst must
// not alias w.
func RotateLeft(w []float32, in, out, b int, blocks []float32, shared bool, dst []float32) {
	if b < 1 || in%b != 0 {
		panic(fmt.Sprintf("orth.RotateLeft: in %d is not a multiple of block size %d", in, b))
	}
	nb := in / b
	if shared {
		nb = 1
	}
	if out < 0 || len(w) < in*out || len(dst) < in*out || len(blocks) < nb*b*b {
		panic(fmt.Sprintf("orth.RotateLeft: %d×%d with %d block(s) of %d×%d needs %d and %d values; got %d, %d and %d",
			in, out, nb, b, b, in*out, nb*b*b, len(w), len(dst), len(blocks)))
	}
	if in == 0 || out == 0 {
		return
	}
	j := rotPool.Get().(*rotJob)
	j.x, j.y, j.blocks, j.width, j.b, j.shared = w, dst, blocks, out, b, shared
	kernels.ParallelFor(in/b, 1, j.run)
	j.x, j.y, j.blocks = nil, nil, nil
	rotPool.Put(j)
}

// BlockDiagonal returns the full (n·b)×(n·b) block-diagonal matrix with
// block i of blocks (or the single shared block) at diagonal position i,
// for tests and diagnostics.
func BlockDiagonal(blocks []float32, n, b int, shared bool) []float32 {
	nb := n
	if shared {
		nb = 1
	}
	if n < 0 || b < 1 || len(blocks) < nb*b*b {
		panic(fmt.Sprintf("orth.BlockDiagonal: %d block(s) of %d×%d need %d values, got %d", nb, b, b, nb*b*b, len(blocks)))
	}
	w := n * b
	m := make([]float32, w*w)
	for i := range n {
		src := blocks
		if !shared {
			src = blocks[i*b*b:]
		}
		for r := range b {
			copy(m[(i*b+r)*w+i*b:][:b], src[r*b:(r+1)*b])
		}
	}
	return m
}

// transposeInto sets dst = srcᵀ for b×b matrices.
func transposeInto(dst, src []float32, b int) {
	for r := range b {
		for c := range b {
			dst[c*b+r] = src[r*b+c]
		}
	}
}

// scratchPool holds float32 scratch for the per-block routines (transposed
// blocks, Horner terms), so that they allocate nothing in steady state.
var scratchPool = sync.Pool{New: func() any { return new([]float32) }}

// getScratch returns pooled scratch of n values; give it back with
// putScratch.
func getScratch(n int) *[]float32 {
	s := scratchPool.Get().(*[]float32)
	if cap(*s) < n {
		*s = make([]float32, n)
	}
	*s = (*s)[:n]
	return s
}

func putScratch(s *[]float32) { scratchPool.Put(s) }
