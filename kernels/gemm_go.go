package kernels

import "sync"

// Cache-blocking parameters of the portable GEMM (the Goto/BLIS scheme). A
// kc×nc panel of op(B) is packed once per (jc, pc) step and reused by every
// mc×kc block of op(A); inside the macro-kernel a kc×nr sliver of B stays in
// L1 while the packed A block (128 KiB) streams past it from L2. Timings on
// the development machine barely moved over kc 256–512, mc 64–256 and
// nc 512–2048 (BENCHMARKS.md has the figure): the micro-kernel, not
// memory, is the bottleneck.
const (
	blockK = 256  // kc: depth of one packed panel
	blockM = 128  // mc: rows of op(A) packed at a time, a multiple of mr
	blockN = 1024 // nc: columns of op(B) packed at a time, a multiple of nr

	// grainFlops is roughly the least work (2·m·n·k flops) worth handing to
	// another goroutine.
	grainFlops = 256 * 1024
)

// gemmGo is the portable pure-Go backend. It expects arguments checked by
// Gemm, with m, n, k > 0 and alpha ≠ 0.
func gemmGo(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	j := jobPool.Get().(*gemmJob)
	*j = gemmJob{
		transA: transA,
		transB: transB,
		direct: useDirect(transA, transB, m, n, k),
		m:      m,
		n:      n,
		k:      k,
		alpha:  alpha,
		beta:   beta,
		a:      a,
		b:      b,
		c:      c,
		lda:    lda,
		ldb:    ldb,
		ldc:    ldc,
		run:    j.run,
	}
	// Split C into contiguous strips of whole micro-tiles along its longer
	// side. Every element of C sees the same sequence of floating-point
	// operations whatever the split, so results do not depend on Threads().
	j.splitRows = m >= n
	units, unitFlops := (n+nr-1)/nr, 2*nr*m*k
	if j.splitRows {
		units, unitFlops = (m+mr-1)/mr, 2*mr*n*k
	}
	ParallelFor(units, 1+grainFlops/unitFlops, j.run)
	*j = gemmJob{run: j.run} // drop references to the caller's matrices
	jobPool.Put(j)
}

// useDirect reports whether a product is better computed without packing:
// when it is tiny, when k is too shallow to amortise packing, or when it is
// matrix–vector-like, so that each packed element of B would be used only
// once or twice. The rules come from timing both paths over small and
// skinny shapes; with both operands transposed the direct path reads A with
// a stride and loses.
func useDirect(transA, transB bool, m, n, k int) bool {
	switch {
	case m*n*k <= 64, k <= 4:
		return true
	case transA && transB:
		return false
	case m <= 2:
		return true
	case n <= 2:
		return transB
	}
	return false
}

// gemmJob carries one Gemm call to the goroutines of ParallelFor. Jobs are
// pooled with their method value run bound once, so that a call allocates
// nothing.
type gemmJob struct {
	transA, transB bool
	direct         bool // compute with directTile instead of blockTile
	splitRows      bool // run's [lo, hi) counts rows of mr rather than columns of nr
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	run            func(lo, hi int) // j.do
}

var jobPool = sync.Pool{New: func() any {
	j := new(gemmJob)
	j.run = j.do
	return j
}}

// do computes the strip [lo, hi) of micro-tile rows or columns of C.
func (j *gemmJob) do(lo, hi int) {
	i0, i1, j0, j1 := 0, j.m, 0, j.n
	if j.splitRows {
		i0, i1 = lo*mr, min(hi*mr, j.m)
	} else {
		j0, j1 = lo*nr, min(hi*nr, j.n)
	}
	if j.direct {
		j.directTile(i0, i1, j0, j1)
	} else {
		j.blockTile(i0, i1, j0, j1)
	}
}

// packBuf holds one goroutine's packing buffers (about 1.1 MiB).
type packBuf struct {
	a [][mr]float32 // ⌈blockM/mr⌉ slivers of up to blockK steps
	b [][nr]float32 // ⌈blockN/nr⌉ slivers of up to blockK steps
}

var packPool = sync.Pool{New: func() any {
	return &packBuf{
		a: make([][mr]float32, (blockM+mr-1)/mr*blockK),
		b: make([][nr]float32, (blockN+nr-1)/nr*blockK),
	}
}}

// blockTile computes C[i0:i1, j0:j1] with the packed, blocked algorithm.
func (j *gemmJob) blockTile(i0, i1, j0, j1 int) {
	buf := packPool.Get().(*packBuf)
	defer packPool.Put(buf)
	var acc [mr * nr]float32
	nalpha := -j.alpha // the micro-kernel returns negated sums
	for jc := j0; jc < j1; jc += blockN {
		nc := min(blockN, j1-jc)
		for pc := 0; pc < j.k; pc += blockK {
			kc := min(blockK, j.k-pc)
			first := pc == 0
			packB(buf.b, j.transB, j.b, j.ldb, pc, kc, jc, nc)
			for ic := i0; ic < i1; ic += blockM {
				mc := min(blockM, i1-ic)
				packA(buf.a, j.transA, j.a, j.lda, ic, mc, pc, kc)
				for jr := 0; jr < nc; jr += nr {
					bs := buf.b[jr/nr*kc:][:kc]
					for ir := 0; ir < mc; ir += mr {
						microKernel(buf.a[ir/mr*kc:][:kc], bs, &acc)
						storeTile(j.c, j.ldc, ic+ir, jc+jr, min(mr, mc-ir), min(nr, nc-jr), &acc, nalpha, j.beta, first)
					}
				}
			}
		}
	}
}

// storeTile writes the top-left h×w (h ≤ mr, w ≤ nr) corner of alpha·acc
// into C at (i, j). On the first panel of k (first) it applies beta, reading
// C only when beta ≠ 0; later panels accumulate into C.
func storeTile(c []float32, ldc, i, j, h, w int, acc *[mr * nr]float32, alpha, beta float32, first bool) {
	if h == mr && w == nr { // whole tile: fixed-size rows, no bounds checks
		for r := range mr {
			crow := (*[nr]float32)(c[(i+r)*ldc+j:])
			arow := (*[nr]float32)(acc[r*nr:])
			switch {
			case !first:
				for q := range nr {
					crow[q] += alpha * arow[q]
				}
			case beta == 0:
				for q := range nr {
					crow[q] = alpha * arow[q]
				}
			default:
				for q := range nr {
					crow[q] = beta*crow[q] + alpha*arow[q]
				}
			}
		}
		return
	}
	for r := range h {
		crow := c[(i+r)*ldc+j:][:w]
		arow := acc[r*nr:][:w]
		switch {
		case !first:
			for q, v := range arow {
				crow[q] += alpha * v
			}
		case beta == 0:
			for q, v := range arow {
				crow[q] = alpha * v
			}
		default:
			for q, v := range arow {
				crow[q] = beta*crow[q] + alpha*v
			}
		}
	}
}

// directTile computes C[i0:i1, j0:j1] without packing. With op(B) = B it
// adds scaled rows of B into rows of C, streaming B once and contiguously;
// with op(B) = Bᵀ each element is a dot product of a row of op(A) with a
// contiguous row of B.
func (j *gemmJob) directTile(i0, i1, j0, j1 int) {
	alpha, beta, k := j.alpha, j.beta, j.k
	a, b, lda, ldb := j.a, j.b, j.lda, j.ldb
	ars, aps := lda, 1 // op(A)[i, p] = a[i*ars + p*aps]
	if j.transA {
		ars, aps = 1, lda
	}
	for i := i0; i < i1; i++ {
		crow := j.c[i*j.ldc+j0 : i*j.ldc+j1]
		if j.transB {
			for q := range crow {
				brow := b[(j0+q)*ldb:][:k]
				var s float32
				if aps == 1 {
					arow := a[i*ars:][:k]
					for p, bv := range brow {
						s += arow[p] * bv
					}
				} else {
					for p, bv := range brow {
						s += a[i+p*aps] * bv
					}
				}
				if beta == 0 {
					crow[q] = alpha * s
				} else {
					crow[q] = beta*crow[q] + alpha*s
				}
			}
			continue
		}
		if beta == 0 {
			clear(crow)
		} else if beta != 1 {
			for q := range crow {
				crow[q] *= beta
			}
		}
		for p := range k {
			av := alpha * a[i*ars+p*aps]
			brow := b[p*ldb+j0:][:len(crow)]
			for q, bv := range brow {
				crow[q] += av * bv
			}
		}
	}
}
