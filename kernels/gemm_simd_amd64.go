//go:build goexperiment.simd && amd64

package kernels

import (
	"errors"
	"runtime"
	"simd/archsimd"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The SIMD backend is a Goto/BLIS blocked GEMM like the portable one, with
// vector micro-kernels written with simd/archsimd (GOEXPERIMENT=simd).
//
// Two facts about the Go compiler shape it. Its register allocator gives
// vector values only X0–X14: 15 registers, whatever their width. And
// archsimd's MulAdd computes x·y + z into x's register (VFMADD213PS), never
// into z's, so an accumulator c = x·y + c moves to x's register, and x must
// be a value used for the last time or a copy. The AVX-512 tile is
// therefore 5×32: 10 accumulators, 2 vectors of B, one of A and its copy,
// 14 registers (see gemm_simd_kernel_amd64.go for the shapes tried).
//
// On Intel's cores, broadcasting an element of A from a register
// (VBROADCASTSS zmm, xmm) runs on port 5, one of the two ports that execute
// 512-bit FMAs, and archsimd cannot express the broadcast load that would
// avoid it. So there the AVX-512 path broadcasts each element of A once,
// when packing it (expandA), and the micro-kernel reads A with plain vector
// loads. The packed sliver of A is 16 times larger that way, which decides
// the order of the loops: for each sliver of 5 rows of op(A), kept in L1,
// the micro-kernel sweeps the whole packed panel of op(B), kept in L2, and
// kc is as deep as lets the expanded sliver (5·kc·64 bytes) and the sliver
// of B streaming past it fit in L1 together. On AMD's Zen 5 the broadcast
// does not compete with the FMAs, so its kernel packs A plainly, row by
// row (packARows: for a row-major A, five copies), broadcasts in its loop
// and takes panels four times deeper (see simdKernelFor); the AVX2
// kernel, whose 256-bit FMAs do not use port 5, also broadcasts in its
// loop, from A packed step by step.
//
// The goroutines split C into strips of whole micro-tile rows, help each
// other at the end of each panel, and share the packed panels of op(B) (see
// simdJob.do), so that op(B) is packed once and each goroutine expands
// mostly its own rows of op(A). Every element of C sees the same sequence of
// operations whichever goroutine computes it (the panels of k do not depend
// on the split and are applied in order, and each lane of a tile is computed
// on its own), so results do not depend on Threads().

const (
	// simdKC is the depth of a packed panel for the kernels that expand A
	// and for the AVX2 one: the expanded sliver of A
	// (5·kc·64 bytes) and the sliver of B streaming past it (32·kc·4) must
	// share L1. On a 48 KiB L1 (Intel, Emerald Rapids) 112 no longer fit
	// and was slower, while 64–96 were within noise of each other. On a
	// 32 KiB L1 (AMD Zen 4) 96 (42 KiB) spilled to L2 and was much slower
	// than 64 or 48, though the micro-kernel alone stayed close to the
	// core's peak. 64 (28 KiB) fits both. Keeping a block of rows of C in
	// L2 across panels made no difference, whether by repacking op(B) for
	// each block (slower) or by ordering the work within a group of panels
	// (the same). BENCHMARKS.md has the measurements.
	simdKC = 64
	simdNC = 2048 // columns of op(B) packed at a time, a multiple of every nr

	// simdPanelFloats bounds kc·nc over the kernels, and simdSliverFloats
	// their packed slivers of A: the sizes of the buffers.
	simdPanelFloats  = simdKC * simdNC
	simdSliverFloats = simdKC * 5 * 16

	// simdPanels is how many panels of op(B) the goroutines pack together
	// between two barriers (4 MiB of buffer).
	simdPanels = 8

	// simdGrainFlops is the least work (2·m·n·k) worth handing to another
	// goroutine: waking it and meeting it at the barriers took longer than
	// computing 128³ (4 Mflop) alone (BENCHMARKS.md has the timing).
	simdGrainFlops = 4 << 20

	simdMaxTile = 5 * 32 // mr·nr of the largest micro-kernel

	// simdARowStride is the distance in floats between the rows of a
	// sliver packed by packARows, and simdARowBytes in bytes: a constant,
	// so that the micro-kernel reads every row from one pointer.
	simdARowStride = 256
	simdARowBytes  = simdARowStride * 4
)

// A simdKernel is one register-blocked micro-kernel and the layout of the
// packed operands it reads.
type simdKernel struct {
	name   string // instruction set, for GemmKernel
	mr, nr int
	// packA packs the h ≤ mr rows op(A)[i0:i0+h, p0:p0+kc] into a sliver
	// laid out as micro reads it, zero rows after the h-th; sliverFloats
	// is the sliver's size at kc ≤ this kernel's kc.
	packA        func(dst []float32, trans bool, a []float32, lda, i0, h, p0, kc int)
	sliverFloats int
	// kc is the depth of a packed panel and nc how many columns of op(B)
	// it holds (a multiple of nr); kc·nc ≤ simdPanelFloats and
	// sliverFloats ≤ simdSliverFloats.
	kc, nc int
	// micro computes the mr×nr tile T = alpha·Σ_p a[p]ᵀ·b[p] over kc ≥ 1
	// steps of a packed sliver of A and one of B and writes it into C at
	// c, whose rows are ldc bytes apart, as mode says. ab holds alpha and
	// beta: passed by value they would occupy two vector registers
	// throughout the loop, which has none to spare.
	micro func(a, b unsafe.Pointer, kc int, c unsafe.Pointer, ldc uintptr, ab *[2]float32, mode tileMode)
}

var (
	kernelAVX512 = simdKernel{name: "avx512", mr: 5, nr: 32, kc: simdKC, nc: simdNC,
		packA: expandA, sliverFloats: simdKC * 5 * 16, micro: micro5x32AVX512}
	kernelAVX512B = simdKernel{name: "avx512-bcast", mr: 5, nr: 32, kc: simdARowStride, nc: 512,
		packA: packARows, sliverFloats: 5 * simdARowStride, micro: micro5x32AVX512Bcast}
	kernelAVX2 = simdKernel{name: "avx2", mr: 5, nr: 16, kc: simdKC, nc: simdNC,
		packA: packASIMD, sliverFloats: simdKC * 5, micro: micro5x16AVX2}
)

// simdSelected is the micro-kernel for this CPU; nil without AVX2 and FMA.
var simdSelected = simdKernelFor(readX86Model())

// simdKernelFor chooses the micro-kernel. With AVX-512, the kernel that
// reads A pre-broadcast is the one for Intel's cores, where a broadcast in
// the loop takes port 5, one of the two that run 512-bit FMAs, so that the
// broadcasting kernel is markedly slower there. On AMD Zen 5, whose
// broadcasts do not compete with its FMAs, both micro-kernels run equally
// fast, close to a core's peak, and the broadcasting one's sliver of A, 16
// times smaller, leaves room in L1 for panels 256 deep instead of 64: a
// quarter of the traffic to C and no expansion of A, which makes whole
// products faster with it there. Zen 4 executes 512-bit operations in two
// halves and was measured only with the pre-broadcast kernel, which it
// keeps. BENCHMARKS.md has the measurements.
func simdKernelFor(cpu x86Model) *simdKernel {
	switch {
	case archsimd.X86.AVX512() && cpu.amdZen5OrLater():
		return &kernelAVX512B
	case archsimd.X86.AVX512():
		return &kernelAVX512
	case archsimd.X86.AVX2() && archsimd.X86.FMA():
		return &kernelAVX2
	}
	return nil
}

// simdBackend returns the SIMD backend, or an error naming the CPU feature
// it lacks.
func simdBackend() (backend, error) {
	if simdSelected == nil {
		if !archsimd.X86.AVX2() {
			return backend{}, errors.New("CPU lacks AVX2")
		}
		return backend{}, errors.New("CPU lacks FMA")
	}
	return backend{name: "simd", detail: simdSelected.name, gemm: gemmSIMD}, nil
}

// gemmSIMD is the SIMD backend. It expects arguments checked by Gemm, with
// m, n, k > 0 and alpha ≠ 0. Vector–matrix products (one row of C, or at
// most two columns) go to the portable kernel, whose direct path is as
// fast there: a tile of 5×32 would be mostly padding. Thin products are
// not sent there as the system BLAS's are: without a foreign call to
// amortise, the SIMD kernel beat the portable one on every other shape
// timed, 64³ and 4096×16×16 included (BENCHMARKS.md has the figures).
func gemmSIMD(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 1 || n <= 2 {
		gemmGo(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemmSIMDWith(simdSelected, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmSIMDWith computes the product with kernel kr, whatever its shape.
func gemmSIMDWith(kr *simdKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	j := simdJobPool.Get().(*simdJob)
	units := (m + kr.mr - 1) / kr.mr
	j.simdCall = simdCall{
		kern:   kr,
		transA: transA,
		transB: transB,
		m:      m,
		n:      n,
		k:      k,
		ab:     [2]float32{alpha, beta},
		a:      a,
		b:      b,
		c:      c,
		lda:    lda,
		ldb:    ldb,
		ldc:    ldc,
		units:  units,
	}
	if len(j.claimed) < units {
		j.claimed = make([]atomic.Uint64, units)
		j.done = make([]atomic.Uint64, units)
	}
	for u := range units {
		j.claimed[u].Store(0)
		j.done[u].Store(0)
	}
	j.bar.total = int32(units)
	ParallelFor(units, 1+simdGrainFlops/(2*kr.mr*n*k), j.run)
	j.simdCall = simdCall{} // drop references to the caller's matrices
	simdJobPool.Put(j)
}

// simdCall holds the arguments of one call.
type simdCall struct {
	kern           *simdKernel
	transA, transB bool
	m, n, k        int
	ab             [2]float32 // alpha, beta
	a, b, c        []float32
	lda, ldb, ldc  int
	units          int // rows of micro-tiles in C: what run's [lo, hi) counts
}

// simdJob carries one call to the goroutines of ParallelFor. Jobs are
// pooled, with their buffers and their method value run bound once, so
// that a call allocates nothing.
type simdJob struct {
	simdCall
	// panels holds up to simdPanels packed panels of op(B), one after
	// another, which all the goroutines pack together and then read.
	panels []float32
	bar    barrier
	// claimed[u] and done[u] are the last panel (counted from 1 in the
	// call) for which a goroutine has taken unit u, and has finished it.
	claimed, done []atomic.Uint64
	run           func(lo, hi int)
}

var simdJobPool = sync.Pool{New: func() any {
	j := new(simdJob)
	j.run = j.do
	j.panels = alignedFloats(simdPanels * simdPanelFloats)
	j.bar.opened.L = &j.bar.mu
	return j
}}

// simdBuf holds one goroutine's buffers.
type simdBuf struct {
	a    []float32 // a sliver of op(A), packed by the kernel's packA
	edge []float32 // a tile of C at a ragged edge, nr floats a row
}

var simdBufPool = sync.Pool{New: func() any {
	return &simdBuf{
		a:    alignedFloats(simdSliverFloats),
		edge: alignedFloats(simdMaxTile),
	}
}}

// alignedFloats returns n zeroed float32s starting on a 64-byte boundary, so
// that no vector load straddles two cache lines, with more allocated after
// them, so that the micro-kernels' pointers stepping one past the end still
// point into the same allocation (which -race's pointer checks insist on).
func alignedFloats(n int) []float32 {
	s := make([]float32, n+16)
	off := int(uintptr(unsafe.Pointer(&s[0])) % 64 / 4)
	if off != 0 {
		off = 16 - off
	}
	return s[off : off+n : off+n]
}

// A tileMode says how a micro-kernel writes its tile T = alpha·A·B into C.
type tileMode int

const (
	tileSet   tileMode = iota // C = T, without reading C (first panel, beta = 0)
	tileScale                 // C = beta·C + T (first panel)
	tileAdd                   // C = C + T (later panels)
)

// do computes the rows of C in units [lo, hi), and helps with the others'.
//
// The panels of op(B) are packed simdPanels at a time by all the goroutines
// together, each packing a share of the slivers in proportion to its
// [lo, hi) of the units, and read by all: a goroutine waits at the barrier
// until the others have packed their shares, and again, before the buffer
// is overwritten, until they are done with it.
//
// Within a group of panels there are no barriers. For each panel, a
// goroutine computes its own units, then takes units not yet taken from
// the others, from the far end: a goroutine delayed by anything else
// running on its core is helped rather than waited for, while each unit
// of C mostly stays with one goroutine and in its core's L2. The panels
// of a unit must be applied in order, so a goroutine that takes a unit
// whose previous panel another is still computing waits for it; that
// happens only at the end of a panel.
func (j *simdJob) do(lo, hi int) {
	nr, kcMax, ncMax := j.kern.nr, j.kern.kc, j.kern.nc
	weight := int32(hi - lo)
	buf := simdBufPool.Get().(*simdBuf)
	defer simdBufPool.Put(buf)
	first := true
	var seq uint64 // panels so far
	for jc := 0; jc < j.n; jc += ncMax {
		nc := min(ncMax, j.n-jc)
		slivers := (nc + nr - 1) / nr
		s0, s1 := slivers*lo/j.units, slivers*hi/j.units
		panelSize := kcMax * slivers * nr // floats in every panel but the last of k
		for pg := 0; pg < j.k; pg += simdPanels * kcMax {
			kg := min(simdPanels*kcMax, j.k-pg)
			if !first {
				j.bar.wait(weight) // all are done with the buffer
			}
			first = false
			for pc := pg; pc < pg+kg; pc += kcMax {
				kc := min(kcMax, j.k-pc)
				dst := j.panels[(pc-pg)/kcMax*panelSize:]
				packBSIMD(dst[s0*kc*nr:], nr, j.transB, j.b, j.ldb, pc, kc, jc+s0*nr, min(nc, s1*nr)-s0*nr)
			}
			j.bar.wait(weight) // all have packed their shares
			for pc := pg; pc < pg+kg; pc += kcMax {
				seq++
				p := simdPanel{
					b:  unsafe.Pointer(&j.panels[(pc-pg)/kcMax*panelSize]),
					jc: jc, nc: nc, pc: pc, kc: min(kcMax, j.k-pc),
				}
				for u := lo; u < hi; u++ {
					j.unit(buf, &p, u, seq)
				}
				for u := j.units - 1; u >= 0; u-- {
					j.unit(buf, &p, u, seq)
				}
			}
		}
	}
}

// A simdPanel is one packed panel of op(B): op(B)[pc:pc+kc, jc:jc+nc].
type simdPanel struct {
	b              unsafe.Pointer
	jc, nc, pc, kc int
}

// unit computes unit u of C (mr rows) with panel p, the seq-th of the call,
// unless another goroutine has taken it.
func (j *simdJob) unit(buf *simdBuf, p *simdPanel, u int, seq uint64) {
	if !j.claimed[u].CompareAndSwap(seq-1, seq) {
		return
	}
	for j.done[u].Load() != seq-1 {
		runtime.Gosched()
	}
	kr := j.kern
	mr, nr := kr.mr, kr.nr
	ir := u * mr
	h := min(mr, j.m-ir)
	kr.packA(buf.a, j.transA, j.a, j.lda, ir, h, p.pc, p.kc)
	mode := tileAdd
	if p.pc == 0 {
		mode = tileScale
		if j.ab[1] == 0 {
			mode = tileSet
		}
	}
	a, bs := unsafe.Pointer(&buf.a[0]), p.b
	bStride := uintptr(p.kc*nr) * 4
	ldc := uintptr(j.ldc) * 4
	for jr := 0; jr < p.nc; jr += nr {
		if w := min(nr, p.nc-jr); h == mr && w == nr {
			kr.micro(a, bs, p.kc, unsafe.Pointer(&j.c[ir*j.ldc+p.jc+jr]), ldc, &j.ab, mode)
		} else {
			j.edgeTile(buf.edge, a, bs, p.kc, ir, p.jc+jr, h, w, mode)
		}
		bs = unsafe.Add(bs, bStride)
	}
	j.done[u].Store(seq)
}

// edgeTile computes an h×w tile of C smaller than the micro-kernel's in a
// scratch tile, so that its elements see the same operations as those of
// whole tiles.
func (j *simdJob) edgeTile(scratch []float32, a, b unsafe.Pointer, kc, i, jj, h, w int, mode tileMode) {
	nr := j.kern.nr
	clear(scratch)
	if mode != tileSet {
		for r := range h {
			copy(scratch[r*nr:][:w], j.c[(i+r)*j.ldc+jj:][:w])
		}
	}
	j.kern.micro(a, b, kc, unsafe.Pointer(&scratch[0]), uintptr(nr)*4, &j.ab, mode)
	for r := range h {
		copy(j.c[(i+r)*j.ldc+jj:][:w], scratch[r*nr:][:w])
	}
}

// A barrier holds goroutines until all have arrived. They arrive with
// weights, the numbers of units of work ParallelFor gave them, and it opens
// when the weights add up to total, however ParallelFor split the work.
type barrier struct {
	total    int32
	count    atomic.Int32
	gen      atomic.Uint32 // times opened
	mu       sync.Mutex
	opened   sync.Cond // on mu, broadcast when gen changes
	sleepers int       // goroutines waiting on opened, guarded by mu
}

// barrierSpins is how many times a goroutine yields, about a microsecond
// each, before it sleeps at the barrier.
const barrierSpins = 100

// wait blocks until the weights of all arrivals since the barrier last
// opened add up to total. On a quiet machine the wait is for the slowest
// goroutine to finish its share, microseconds, so it spins first; when
// another process holds a core it can be a scheduler time slice, and a
// goroutine spinning that long would take processor time from the one it
// waits for, so then it sleeps.
func (b *barrier) wait(weight int32) {
	g := b.gen.Load()
	if b.count.Add(weight) == b.total {
		b.count.Store(0)
		b.mu.Lock()
		b.gen.Add(1)
		if b.sleepers > 0 {
			b.opened.Broadcast()
		}
		b.mu.Unlock()
		return
	}
	for range barrierSpins {
		if b.gen.Load() != g {
			return
		}
		runtime.Gosched()
	}
	b.mu.Lock()
	for b.gen.Load() == g {
		b.sleepers++
		b.opened.Wait()
		b.sleepers--
	}
	b.mu.Unlock()
}
