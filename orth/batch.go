package orth

import (
	"fmt"
	"sync"

	"github.com/orthotune/orthotune/kernels"
)

// Batched rotations for training: an adapted layer has tens of blocks and
// computes all of them on every forward and backward. The series kinds run
// their Horner recursions in float32 through kernels.Gemm (PEFT computes
// them in float32 too), the blocks spread over the cores; the exact kind
// solves each block in float64 as Rotation and Backward do, also in
// parallel. Results agree with the per-block float64 routines to float32
// rounding of a few products.

// batchJob carries one batched call to ParallelFor's goroutines; pooled
// with its run method bound once, so that calls do not allocate.
type batchJob struct {
	c        Cayley
	backward bool
	b        int
	q, r, g  []float32
	out      []float32
	run      func(lo, hi int)
}

var batchPool = sync.Pool{New: func() any {
	j := new(batchJob)
	j.run = j.do
	return j
}}

func (j *batchJob) do(lo, hi int) {
	bb := j.b * j.b
	for i := lo; i < hi; i++ {
		q, out := j.q[i*bb:(i+1)*bb], j.out[i*bb:(i+1)*bb]
		switch {
		case j.c.Kind == Exact && !j.backward:
			j.c.Rotation(q, j.b, out)
		case j.c.Kind == Exact:
			j.c.Backward(q, j.r[i*bb:(i+1)*bb], j.g[i*bb:(i+1)*bb], j.b, out)
		case !j.backward:
			j.c.seriesRotation32(q, j.b, out)
		default:
			j.c.seriesBackward32(q, j.g[i*bb:(i+1)*bb], j.b, out)
		}
	}
}

func (c Cayley) runBatch(fn string, backward bool, q, r, g []float32, n, b int, out []float32) {
	c.check(fn)
	need := n * b * b
	if b < 1 || n < 0 || len(q) < need || len(out) < need || (backward && (len(r) < need || len(g) < need)) {
		panic(fmt.Sprintf("orth.Cayley.%s: %d blocks of %d×%d need %d values per operand", fn, n, b, b, need))
	}
	j := batchPool.Get().(*batchJob)
	j.c, j.backward, j.b, j.q, j.r, j.g, j.out = c, backward, b, q, r, g, out
	kernels.ParallelFor(n, 1, j.run)
	j.q, j.r, j.g, j.out = nil, nil, nil, nil
	batchPool.Put(j)
}

// Rotations writes R(Q_i) for n b×b blocks q (block i at i·b·b) into r,
// in parallel; r must not alias q. See the file comment for precision.
func (c Cayley) Rotations(q []float32, n, b int, r []float32) {
	c.runBatch("Rotations", false, q, nil, nil, n, b, r)
}

// Backwards writes dq_i = dL/dQ_i for n blocks given g_i = dL/dR_i and the
// rotations r that Rotations computed from q, in parallel; dq must not
// alias q, r or g.
func (c Cayley) Backwards(q, r, g []float32, n, b int, dq []float32) {
	c.runBatch("Backwards", true, q, r, g, n, b, dq)
}

// seriesRotation32 is Rotation's Horner recursion in float32:
// H_m = c_m·I, H_j = c_j·I + Q·H_{j+1}, R = H_0; the first step needs no
// product (Q·c_m·I = c_m·Q).
func (c Cayley) seriesRotation32(q []float32, b int, r []float32) {
	m := c.degree()
	bb := b * b
	if m == 0 {
		setIdentity32(r, b, 1)
		return
	}
	ws := getScratch(2 * bb)
	defer putScratch(ws)
	f := *ws
	h, t := f[:bb], f[bb:]
	cm := float32(c.coef(m, m))
	for i, v := range q[:bb] {
		h[i] = cm * v
	}
	addDiag32(h, b, float32(c.coef(m-1, m)))
	for j := m - 2; j >= 0; j-- {
		kernels.Gemm(false, false, b, b, b, 1, q, b, h, b, 0, t, b)
		addDiag32(t, b, float32(c.coef(j, m)))
		h, t = t, h
	}
	copy(r[:bb], h)
}

// seriesBackward32 is Backward's recursion in float32:
// dQ = Σ_{j=0}^{m−1} (Qᵀ)^j·G·H_{j+1}ᵀ, accumulated from j = m−1 down as
// acc ← G·H_{j+1}ᵀ + Qᵀ·acc while H steps down as in the rotation.
func (c Cayley) seriesBackward32(q, g []float32, b int, dq []float32) {
	m := c.degree()
	bb := b * b
	if m == 0 {
		clear(dq[:bb])
		return
	}
	ws := getScratch(3 * bb)
	defer putScratch(ws)
	f := *ws
	h, acc, t := f[:bb], f[bb:2*bb], f[2*bb:]
	// j = m−1: H_m = c_m·I, so acc = c_m·G and H_{m−1} = c_m·Q + c_{m−1}·I.
	cm := float32(c.coef(m, m))
	for i := range bb {
		acc[i] = cm * g[i]
		h[i] = cm * q[i]
	}
	addDiag32(h, b, float32(c.coef(m-1, m)))
	for j := m - 2; j >= 0; j-- {
		// acc = G·H_{j+1}ᵀ + Qᵀ·acc
		kernels.Gemm(false, true, b, b, b, 1, g, b, h, b, 0, t, b)
		kernels.Gemm(true, false, b, b, b, 1, q, b, acc, b, 1, t, b)
		acc, t = t, acc
		if j > 0 {
			kernels.Gemm(false, false, b, b, b, 1, q, b, h, b, 0, t, b)
			addDiag32(t, b, float32(c.coef(j, m)))
			h, t = t, h
		}
	}
	copy(dq[:bb], acc)
}

func setIdentity32(m []float32, n int, s float32) {
	clear(m[:n*n])
	addDiag32(m, n, s)
}

func addDiag32(m []float32, n int, s float32) {
	for i := range n {
		m[i*n+i] += s
	}
}
