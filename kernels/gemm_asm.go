//go:build (amd64 || arm64) && !purego

package kernels

import (
	"sync"
	"unsafe"
)

// The assembly backend ("asm") is a Goto/BLIS blocked GEMM like the portable
// one, in the default build: packing and blocking in Go, register-blocked
// micro-kernels in Go assembly (gemm_asm_amd64.s: AVX2+FMA and AVX-512F;
// gemm_asm_arm64.s: NEON), chosen at run time from the CPU's features.
//
// Loop order, outermost first: panels of nc columns of op(B) (jc); panels
// of kc steps of k (pc), for which a kc×nc block of op(B) is packed into
// slivers of nr columns; blocks of mc rows of op(A) (ic), packed into
// slivers of mr rows; then for each sliver of B (jr) every sliver of A
// (ir), so that the kc×nr sliver of B stays in L1 while the packed block
// of A streams past it from L2. The micro-kernel writes its mr×nr tile
// straight into C, applying alpha and, on the first panel of k, beta;
// later panels add to C. Tiles at the ragged edges of C are computed by
// the same micro-kernel into a scratch tile, from slivers padded with
// zeros.
//
// Goroutines split C into strips of whole micro-tiles (rows of mr or
// columns of nr, see asmSplitRows), each packing its own operands. Every
// element of C sees the same sequence of operations whichever strip it
// falls in: the panels of k do not depend on the split and are applied in
// order, and the lanes of a tile are computed independently. So results do
// not depend on Threads().

// An asmKernel is one register-blocked micro-kernel and its cache blocking.
type asmKernel struct {
	name   string // instruction set: "avx2", "avx512" or "neon"
	mr, nr int    // rows and columns of C per micro-tile
	// kc is the depth of a packed panel, mc the rows of op(A) packed at a
	// time (a multiple of mr) and nc the columns of op(B) (a multiple of
	// nr).
	kc, mc, nc int
	// micro computes the mr×nr tile T = alpha·Σ_p a[p]ᵀ·b[p] over kc ≥ 1
	// steps of a packed sliver of A (kc steps of mr values) and one of B
	// (kc steps of nr values), and writes it into C at c, whose rows are
	// ldc bytes apart, as mode says. ab holds alpha and beta.
	micro func(a, b *float32, kc int, c *float32, ldc uintptr, ab *[2]float32, mode asmMode)
}

// An asmMode says how a micro-kernel writes its tile T = alpha·A·B into C.
type asmMode int

const (
	asmSet   asmMode = iota // C = T, without reading C (first panel, beta = 0)
	asmScale                // C = beta·C + T (first panel): fma(beta, C, T)
	asmAdd                  // C = C + T (later panels)
)

// asmGrainFlops is the least work (2·m·n·k) worth handing to another
// goroutine, which packs its own copy of the shared operand.
const asmGrainFlops = 4 << 20

// asmBackend returns the assembly backend, or an error naming what the CPU
// lacks.
func asmBackend() (backend, error) {
	kr, err := asmKernelForCPU()
	if err != nil {
		return backend{}, err
	}
	return backend{name: "asm", detail: kr.name, gemm: func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		gemmAsm(kr, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}}, nil
}

// gemmAsm is the assembly backend with kernel kr. It expects arguments
// checked by Gemm, with m, n, k > 0 and alpha ≠ 0. Vector–matrix products
// (one row of C, or at most two columns) go to the portable kernel's direct
// path, as fast there: a micro-tile would be mostly padding.
func gemmAsm(kr *asmKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 1 || n <= 2 {
		gemmGo(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemmAsmWith(kr, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmAsmWith computes the product with kernel kr, whatever its shape.
func gemmAsmWith(kr *asmKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	j := asmJobPool.Get().(*asmJob)
	j.asmCall = asmCall{
		kern: kr, transA: transA, transB: transB,
		splitRows: asmSplitRows(kr, transA, transB, m, n, k, Threads()),
		m:         m, n: n, k: k,
		ab: [2]float32{alpha, beta},
		a:  a, b: b, c: c,
		lda: lda, ldb: ldb, ldc: ldc,
	}
	units, unitFlops := (n+kr.nr-1)/kr.nr, 2*kr.nr*m*k
	if j.splitRows {
		units, unitFlops = (m+kr.mr-1)/kr.mr, 2*kr.mr*n*k
	}
	ParallelFor(units, 1+asmGrainFlops/unitFlops, j.run)
	j.asmCall = asmCall{} // drop references to the caller's matrices
	asmJobPool.Put(j)
}

// asmSplitRows reports whether the goroutines should split C into strips of
// rows rather than of columns. Each goroutine packs all of the operand the
// strips share (op(B) for rows, op(A) for columns), so the split chosen is
// the one that copies less, counting a gather (a row-major A, a transposed
// B: values lda or ldb apart) as three contiguous copies, unless it leaves
// fewer strips than threads where the other does not. Either split gives
// every element of C the same operations.
func asmSplitRows(kr *asmKernel, transA, transB bool, m, n, k, threads int) bool {
	const gather = 3
	dupB, dupA := k*n, m*k
	if transB {
		dupB *= gather
	}
	if !transA {
		dupA *= gather
	}
	rows := dupB <= dupA
	rowUnits, colUnits := (m+kr.mr-1)/kr.mr, (n+kr.nr-1)/kr.nr
	if rows && rowUnits < threads && colUnits > rowUnits {
		return false
	}
	if !rows && colUnits < threads && rowUnits > colUnits {
		return true
	}
	return rows
}

// asmCall holds the arguments of one call.
type asmCall struct {
	kern           *asmKernel
	transA, transB bool
	splitRows      bool // run's [lo, hi) counts rows of mr rather than columns of nr
	m, n, k        int
	ab             [2]float32 // alpha, beta
	a, b, c        []float32
	lda, ldb, ldc  int
}

// asmJob carries one call to the goroutines of ParallelFor. Jobs are pooled
// with their method value run bound once, so that a call allocates nothing.
type asmJob struct {
	asmCall
	run func(lo, hi int) // j.do
}

var asmJobPool = sync.Pool{New: func() any {
	j := new(asmJob)
	j.run = j.do
	return j
}}

// asmBuf holds one goroutine's packing buffers, grown to the largest
// kernel's blocking on first use.
type asmBuf struct {
	a, b []float32 // packed block of op(A) (mc×kc), panel of op(B) (kc×nc)
	edge []float32 // a tile of C at a ragged edge, nr floats a row
}

var asmBufPool = sync.Pool{New: func() any { return new(asmBuf) }}

// fit grows the buffers to kernel kr's blocking.
func (buf *asmBuf) fit(kr *asmKernel) {
	if n := kr.mc * kr.kc; len(buf.a) < n {
		buf.a = alignedFloats64(n)
	}
	if n := kr.kc * kr.nc; len(buf.b) < n {
		buf.b = alignedFloats64(n)
	}
	if n := kr.mr * kr.nr; len(buf.edge) < n {
		buf.edge = alignedFloats64(n)
	}
}

// alignedFloats64 returns n zeroed float32s starting on a 64-byte boundary,
// so that no vector load of a packed operand straddles two cache lines.
func alignedFloats64(n int) []float32 {
	s := make([]float32, n+16)
	off := int(uintptr(unsafe.Pointer(&s[0])) % 64 / 4)
	if off != 0 {
		off = 16 - off
	}
	return s[off : off+n : off+n]
}

// do computes the strip [lo, hi) of micro-tile rows or columns of C.
func (j *asmJob) do(lo, hi int) {
	kr := j.kern
	i0, i1, j0, j1 := 0, j.m, 0, j.n
	if j.splitRows {
		i0, i1 = lo*kr.mr, min(hi*kr.mr, j.m)
	} else {
		j0, j1 = lo*kr.nr, min(hi*kr.nr, j.n)
	}
	buf := asmBufPool.Get().(*asmBuf)
	defer asmBufPool.Put(buf)
	buf.fit(kr)
	mr, nr := kr.mr, kr.nr
	ldcBytes := uintptr(j.ldc) * 4
	for jc := j0; jc < j1; jc += kr.nc {
		nc := min(kr.nc, j1-jc)
		for pc := 0; pc < j.k; pc += kr.kc {
			kc := min(kr.kc, j.k-pc)
			mode := asmAdd
			if pc == 0 {
				mode = asmScale
				if j.ab[1] == 0 {
					mode = asmSet
				}
			}
			packBAsm(nr, buf.b, j.transB, j.b, j.ldb, pc, kc, jc, nc)
			for ic := i0; ic < i1; ic += kr.mc {
				mc := min(kr.mc, i1-ic)
				packAAsm(mr, buf.a, j.transA, j.a, j.lda, ic, mc, pc, kc)
				for jr := 0; jr < nc; jr += nr {
					bs := &buf.b[jr*kc] // sliver jr/nr, kc·nr floats each
					w := min(nr, nc-jr)
					for ir := 0; ir < mc; ir += mr {
						as := &buf.a[ir*kc]
						if h := min(mr, mc-ir); h == mr && w == nr {
							kr.micro(as, bs, kc, &j.c[(ic+ir)*j.ldc+jc+jr], ldcBytes, &j.ab, mode)
						} else {
							j.edgeTile(buf.edge, as, bs, kc, ic+ir, jc+jr, h, w, mode)
						}
					}
				}
			}
		}
	}
}

// edgeTile computes an h×w tile of C smaller than the micro-kernel's in a
// scratch tile, so that its elements see the same operations as those of
// whole tiles.
func (j *asmJob) edgeTile(scratch []float32, a, b *float32, kc, i, jj, h, w int, mode asmMode) {
	kr := j.kern
	nr := kr.nr
	scratch = scratch[:kr.mr*nr]
	clear(scratch)
	if mode != asmSet {
		for r := range h {
			copy(scratch[r*nr:][:w], j.c[(i+r)*j.ldc+jj:][:w])
		}
	}
	kr.micro(a, b, kc, &scratch[0], uintptr(nr)*4, &j.ab, mode)
	for r := range h {
		copy(j.c[(i+r)*j.ldc+jj:][:w], scratch[r*nr:][:w])
	}
}

// packAAsm copies op(A)[i0:i0+mc, p0:p0+kc] into dst as ⌈mc/mr⌉ slivers of
// kc steps of mr values, dst[(s·kc+p)·mr+r] = op(A)[i0+s·mr+r, p0+p], with
// zeros for the rows past mc. (Stale values there would meet only
// discarded lanes, but could be subnormal, which x86 computes slowly.)
func packAAsm(mr int, dst []float32, trans bool, a []float32, lda, i0, mc, p0, kc int) {
	for s := 0; s*mr < mc; s++ {
		d := dst[s*mr*kc:][:mr*kc]
		i := i0 + s*mr
		h := min(mr, mc-s*mr)
		if trans { // A is k×m: mr contiguous values per step
			for p := range kc {
				dp := d[p*mr:][:mr]
				copy(dp, a[(p0+p)*lda+i:][:h])
				clear(dp[h:])
			}
			continue
		}
		// A is m×k: each step gathers one element of h rows lda apart,
		// packGroup rows at a time. The check below bounds every address
		// (the last row's last element is a[(i+h-1)*lda+p0+kc-1]), so the
		// loop reads through pointers without bounds checks.
		_ = a[(i+h-1)*lda+p0+kc-1]
		stride := uintptr(lda) * 4
		for r0 := 0; r0 < h; r0 += packGroup {
			g := min(packGroup, h-r0)
			src := unsafe.Pointer(&a[(i+r0)*lda+p0])
			for p := range kc {
				dp := d[p*mr+r0:][:g]
				s := unsafe.Add(src, p*4)
				for r := range dp {
					dp[r] = *(*float32)(unsafe.Add(s, uintptr(r)*stride))
				}
			}
		}
		if h < mr {
			for p := range kc {
				clear(d[p*mr+h : (p+1)*mr])
			}
		}
	}
}

// packGroup is how many rows of a row-major A or a transposed B the packers
// gather from at a time. Packing a transposed 768×3072 B into slivers of 32
// on a busy 2-core Zen 5 took 0.8–1.6 ns a value with groups of 4 to 16
// rows, 1.0–2.4 with all 32 at once and 1.5–6.8 one row at a time (values
// then scattered a sliver's width apart); the noise did not separate 4, 8
// and 16.
const packGroup = 8

// packBAsm copies op(B)[p0:p0+kc, j0:j0+nc] into dst as ⌈nc/nr⌉ slivers of
// kc steps of nr values, dst[(s·kc+p)·nr+q] = op(B)[p0+p, j0+s·nr+q], with
// zeros for the columns past nc.
func packBAsm(nr int, dst []float32, trans bool, b []float32, ldb, p0, kc, j0, nc int) {
	for s := 0; s*nr < nc; s++ {
		d := dst[s*nr*kc:][:nr*kc]
		j := j0 + s*nr
		w := min(nr, nc-s*nr)
		if !trans { // B is k×n: nr contiguous values per step
			for p := range kc {
				dp := d[p*nr:][:nr]
				copy(dp, b[(p0+p)*ldb+j:][:w])
				clear(dp[w:])
			}
			continue
		}
		// B is n×k: each step gathers one element of w rows of B ldb
		// apart, read through pointers as in packAAsm, packGroup rows at a
		// time (gathering from all nr rows at once was twice as slow).
		_ = b[(j+w-1)*ldb+p0+kc-1]
		stride := uintptr(ldb) * 4
		for q0 := 0; q0 < w; q0 += packGroup {
			g := min(packGroup, w-q0)
			src := unsafe.Pointer(&b[(j+q0)*ldb+p0])
			for p := range kc {
				dp := d[p*nr+q0:][:g]
				s := unsafe.Add(src, p*4)
				for q := range dp {
					dp[q] = *(*float32)(unsafe.Add(s, uintptr(q)*stride))
				}
			}
		}
		if w < nr {
			for p := range kc {
				clear(d[p*nr+w : (p+1)*nr])
			}
		}
	}
}
