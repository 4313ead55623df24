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
// Goroutines split C into strips of whole micro-tiles (rows of mr when
// m ≥ n, else columns of nr), each packing its own operands. Every
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
		splitRows: m >= n,
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
		// A is m×k: step p gathers element p of h rows lda apart. The
		// slices above bound every address (the last row's last element is
		// a[(i+h-1)*lda+p0+kc-1]), so the loop reads through pointers
		// without bounds checks.
		_ = a[(i+h-1)*lda+p0+kc-1]
		src := unsafe.Pointer(&a[i*lda+p0])
		stride := uintptr(lda) * 4
		for p := range kc {
			dp := d[p*mr:][:mr]
			s := unsafe.Add(src, p*4)
			for r := range h {
				dp[r] = *(*float32)(unsafe.Add(s, uintptr(r)*stride))
			}
			clear(dp[h:])
		}
	}
}

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
		// B is n×k: one contiguous row of B per q, scattered nr apart.
		for q := range w {
			row := b[(j+q)*ldb+p0:][:kc]
			dq := d[q:]
			for p, v := range row {
				dq[p*nr] = v
			}
		}
		for q := w; q < nr; q++ {
			for p := range kc {
				d[p*nr+q] = 0
			}
		}
	}
}
