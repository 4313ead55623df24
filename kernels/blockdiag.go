package kernels

import (
	"fmt"
	"sync"
)

// GemmBlockDiag multiplies each b-wide chunk of x's rows by its own b×b
// block: for i in [0, n), y[:, i·b:(i+1)·b] = x[:, i·b:(i+1)·b]·B_i over
// rows rows, where B_i is blocks[i·b·b:(i+1)·b·b], row-major. x and y are
// row-major with row strides ldx and ldy, each at least n·b; y must not
// overlap x or blocks. This is x times a block-diagonal matrix, OFT's
// rotation of a layer's input.
//
// Its results do not depend on Threads(); with the assembly kernels each
// chunk's is Gemm's for that chunk, bit for bit. The assembly kernels
// (for the asm backend, and for a system BLAS, whose small products they
// compute) take it straight from the operands, a sliver of rows at a time
// across all the blocks, so that neither operand is packed and each of
// x's rows is read once while its sliver is in L1; other backends run
// Gemm on each chunk.
func GemmBlockDiag(rows, n, b int, x []float32, ldx int, blocks []float32, y []float32, ldy int) {
	if !checkBlockDiag("GemmBlockDiag", "y", rows, n, b, x, ldx, blocks, y, ldy) {
		return
	}
	if selected.blockDiag != nil && selected.blockDiag(rows, n, b, x, ldx, blocks, y, ldy) {
		return
	}
	j := blockDiagPool.Get().(*blockDiagJob)
	j.rows, j.b, j.x, j.ldx, j.blocks, j.y, j.ldy = rows, b, x, ldx, blocks, y, ldy
	ParallelFor(n, 1, j.run)
	j.x, j.blocks, j.y = nil, nil, nil
	blockDiagPool.Put(j)
}

// blockDiagJob carries a GemmBlockDiag or GemmBlockDiagGrad call to
// ParallelFor's goroutines, one block's product each, for backends that do
// not take the call themselves; pooled with its method value bound once,
// so that calls do not allocate.
type blockDiagJob struct {
	rows, b, ldx, ldy int
	x, blocks, y      []float32
	run, runGrad      func(lo, hi int) // do and doGrad
}

var blockDiagPool = sync.Pool{New: func() any {
	j := new(blockDiagJob)
	j.run, j.runGrad = j.do, j.doGrad
	return j
}}

// do computes the chunks [lo, hi) of GemmBlockDiag: y_i = x_i·B_i.
func (j *blockDiagJob) do(lo, hi int) {
	b := j.b
	for i := lo; i < hi; i++ {
		Gemm(false, false, j.rows, b, b, 1, j.x[i*b:], j.ldx, j.blocks[i*b*b:], b, 0, j.y[i*b:], j.ldy)
	}
}

// doGrad computes the blocks [lo, hi) of GemmBlockDiagGrad, with y the
// upstream gradient and blocks the blocks' gradient: G_i += x_iᵀ·y_i.
func (j *blockDiagJob) doGrad(lo, hi int) {
	b := j.b
	for i := lo; i < hi; i++ {
		Gemm(true, false, b, b, j.rows, 1, j.x[i*b:], j.ldx, j.y[i*b:], j.ldy, 1, j.blocks[i*b*b:], b)
	}
}

// GemmBlockDiagGrad adds to each b×b block of grad the product of its
// chunks of x and dy: for i in [0, n), G_i += x[:, i·b:(i+1)·b]ᵀ·dy[:,
// i·b:(i+1)·b] over rows rows, G_i being grad[i·b·b:(i+1)·b·b], row-major:
// the gradient of GemmBlockDiag's blocks. x and dy are row-major with row
// strides ldx and ldy, each at least n·b.
//
// Its results do not depend on Threads(). The assembly kernels (for the
// asm backend and for a system BLAS) sum the rows a panel at a time across
// all the blocks, while the panel's rows are in L2, each block's tile in
// registers (so its sums are in a different order from Gemm's); other
// backends run Gemm on each block.
func GemmBlockDiagGrad(rows, n, b int, x []float32, ldx int, dy []float32, ldy int, grad []float32) {
	if !checkBlockDiag("GemmBlockDiagGrad", "dy", rows, n, b, x, ldx, grad, dy, ldy) {
		return
	}
	if selected.blockDiagGrad != nil && selected.blockDiagGrad(rows, n, b, x, ldx, dy, ldy, grad) {
		return
	}
	j := blockDiagPool.Get().(*blockDiagJob)
	j.rows, j.b, j.x, j.ldx, j.blocks, j.y, j.ldy = rows, b, x, ldx, grad, dy, ldy
	ParallelFor(n, 1, j.runGrad)
	j.x, j.blocks, j.y = nil, nil, nil
	blockDiagPool.Put(j)
}

// checkBlockDiag panics, naming fn and the operand, if the operands of a
// product of rows rows by n blocks of b (x, blocks and the one called name,
// y or dy) are too short or their strides too narrow, and reports whether
// there is anything to compute.
func checkBlockDiag(fn, name string, rows, n, b int, x []float32, ldx int, blocks, y []float32, ldy int) bool {
	if rows < 0 || n < 0 || b < 1 || ldx < n*b || ldy < n*b {
		panic(fmt.Sprintf("kernels.%s: %d rows of %d blocks of %d with row strides %d and %d", fn, rows, n, b, ldx, ldy))
	}
	if rows == 0 || n == 0 {
		return false
	}
	for _, op := range []struct {
		name string
		v    []float32
		ld   int
	}{{"x", x, ldx}, {name, y, ldy}} {
		if need := (rows-1)*op.ld + n*b; len(op.v) < need {
			panic(fmt.Sprintf("kernels.%s: %s has %d values, %d rows of stride %d need %d", fn, op.name, len(op.v), rows, op.ld, need))
		}
	}
	if len(blocks) < n*b*b {
		panic(fmt.Sprintf("kernels.%s: %d blocks of %d×%d need %d values, got %d", fn, n, b, b, n*b*b, len(blocks)))
	}
	return true
}
