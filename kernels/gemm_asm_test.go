//go:build (amd64 || arm64) && !purego

package kernels

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"unsafe"
)

// allAsmKernels lists every micro-kernel built for this architecture,
// whether or not the CPU runs it.
func allAsmKernels() []*asmKernel {
	switch runtime.GOARCH {
	case "amd64":
		return asmAllAMD64()
	case "arm64":
		return asmKernels()
	}
	return nil
}

// testAsmKernels lists the micro-kernels this CPU runs, logging each one
// built for this architecture that it does not.
func testAsmKernels(t testing.TB) []*asmKernel {
	ks := asmKernels()
	for _, kr := range allAsmKernels() {
		if !slices.Contains(ks, kr) {
			t.Logf("the %s micro-kernel is not run: this CPU lacks its instructions", kr.name)
		}
	}
	return ks
}

// forEachAsmKernel runs fn as a subtest once per micro-kernel built for
// this architecture, with Gemm dispatching every product (thin ones
// included) to it. On amd64 the AVX2 kernel runs on AVX-512 machines too;
// a kernel whose instructions CPUID does not report is skipped, saying so.
func forEachAsmKernel(t *testing.T, fn func(t *testing.T, kr *asmKernel)) {
	runs := asmKernels()
	for _, kr := range allAsmKernels() {
		t.Run(kr.name, func(t *testing.T) {
			if !slices.Contains(runs, kr) {
				t.Skipf("this CPU lacks the %s kernel's instructions (CPUID)", kr.name)
			}
			useBackend(t, asmKernelBackend(kr))
			fn(t, kr)
		})
	}
}

// asmKernelBackend is the assembly backend with every product on kernel kr.
func asmKernelBackend(kr *asmKernel) backend {
	return backend{name: "asm", detail: kr.name, gemm: func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		gemmAsmWith(kr, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}}
}

// TestAsmBlockEdges checks every micro-kernel against the float64
// reference on sizes one either side of its tile and cache-block
// boundaries (mr, nr, kc, mc, nc), so that every remainder path runs: whole
// and partial tiles in both dimensions, the unrolled loop's tail
// (kc mod 4 = 0…3) and panels of k after the first (the add mode). All four
// transpose combinations, with and without padded leading dimensions, on
// one and two threads.
func TestAsmBlockEdges(t *testing.T) {
	forEachAsmKernel(t, func(t *testing.T, kr *asmKernel) {
		mr, nr, kc, mc, nc := kr.mr, kr.nr, kr.kc, kr.mc, kr.nc
		sizes := [][3]int{ // m, n, k
			{1, 1, 1}, {mr, nr, 1}, {mr, nr, 2}, {mr, nr, 3}, {mr, nr, 4}, {mr, nr, 5},
			{mr - 1, nr - 1, 2}, {mr + 1, nr + 1, 3}, {2 * mr, 2 * nr, 7},
			{2*mr + 3, 3*nr - 5, kc - 1}, {3 * mr, 2 * nr, kc},
			{4*mr + 1, nr + 7, kc + 1}, {7, 2*nr + 1, 2*kc + 5},
			{mc + mr + 1, nr + 3, 19}, {mc - 1, 2*nr - 1, kc + 3},
			{mr + 2, nc + nr + 3, 17}, {53, 61, 300},
			{2*mr + 1, 2*nc + 3, 2*kc + 5},       // A packed once for three panels of B, its three panels of k kept
			{asmRowsMax(kr) + mr + 1, nr + 5, 9}, // two groups of rows, the panel of B packed once
			{2*mr + 1, nr + 3, 1024},             // rows of A 4 KiB apart: whole slivers packed, not read in place
		}
		if testing.Short() {
			sizes = sizes[:9]
		}
		runBlockEdgeSizes(t, sizes)
	})
}

// TestAsmUnpacked checks the unpacked path for small products
// (gemmAsmUnpacked: short kernels reading A, either way round, and B in
// place, all of k in registers) against the reference, on every shape it
// takes — the rows a multiple of 4 with and without a last 4, one and two
// slivers of columns, k of 1 to past two panels — with paddings and the
// scalars of the edge tests, giving gemmAsmWith's results bit for bit —
// and that it declines what it must not take.
func TestAsmUnpacked(t *testing.T) {
	forEachAsmKernel(t, func(t *testing.T, kr *asmKernel) {
		if kr.shortFor(8) != 8 || kr.shortFor(4) != 4 {
			t.Skipf("the %s kernel has no short kernels", kr.name)
		}
		useBackend(t, backend{name: "asm", detail: kr.name, gemm: func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			packed := slices.Clone(c)
			gemmAsmWith(kr, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, packed, ldc)
			if transB || !gemmAsmUnpacked(kr, transA, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
				t.Fatalf("gemmAsmUnpacked declined %d×%d×%d (transA %v, lda %d, ldb %d)", m, n, k, transA, lda, ldb)
			}
			if !slices.Equal(c, packed) {
				t.Errorf("gemmAsmUnpacked %d×%d×%d (transA %v): not gemmAsmWith's results bit for bit", m, n, k, transA)
			}
		}})
		runBlockEdgeSizesTrans(t, [][3]int{{4, kr.nr, 1}, {8, kr.nr, 3}, {12, 2 * kr.nr, 77}, {32, kr.nr, 2*kr.kc + 5}, {asmUnpackedMax, 2 * kr.nr, 40}},
			[][2]bool{{false, false}, {true, false}})
		for _, tc := range []struct {
			transA   bool
			m, n, k  int
			lda, ldb int
		}{
			{false, 6, kr.nr, 9, 9, kr.nr},                  // rows not a multiple of 4
			{false, 8, kr.nr + 1, 9, 9, kr.nr + 1},          // columns not a multiple of nr
			{false, asmUnpackedMax + 4, kr.nr, 9, 9, kr.nr}, // too many rows
			{true, 8, 3 * kr.nr, 9, 8, 3 * kr.nr},           // too many columns
			{false, 8, kr.nr, 1024, 1024, kr.nr},            // rows of A 4 KiB apart
			{true, 8, kr.nr, 9, 8, 1024},                    // rows of B 4 KiB apart
		} {
			a, b, c := make([]float32, tc.k*tc.lda+tc.m*tc.lda), make([]float32, tc.k*tc.ldb), make([]float32, tc.m*tc.n)
			if gemmAsmUnpacked(kr, tc.transA, tc.m, tc.n, tc.k, 1, a, tc.lda, b, tc.ldb, 0, c, tc.n) {
				t.Errorf("gemmAsmUnpacked took %+v", tc)
			}
		}
	})
}

// TestAsmTransposed checks the path for products of many rows and few
// columns (gemmAsmTransposed: the transpose computed by a short kernel,
// then written into C) against the reference, in all four layouts and
// with each write mode, on the columns each short height takes (3 to 8),
// rows past the unpacked path's bound with and without a whole last
// sliver of 32 (the transpose's columns), and k of 1 to past two panels;
// and that its results are the same bit for bit on 1 to 4 threads.
func TestAsmTransposed(t *testing.T) {
	forEachAsmKernel(t, func(t *testing.T, kr *asmKernel) {
		if kr.shortFor(8) == 0 {
			t.Skipf("the %s kernel has no short kernels", kr.name)
		}
		useBackend(t, backend{name: "asm", detail: kr.name, gemm: func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			if kr.shortFor(n) == 0 || m <= asmUnpackedMax {
				t.Fatalf("%d×%d×%d is not a product gemmAsm computes transposed", m, n, k)
			}
			gemmAsmTransposed(kr, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		}})
		sizes := [][3]int{ // m, n, k
			{asmUnpackedMax + 1, 8, 1}, {asmUnpackedMax + 1, 3, 5}, {100, 4, kr.kc + 1},
			{128, 5, 7}, {300, 8, 2*kr.kc + 5}, {asmRowsMax(kr)*2 + 3, 7, 40}, {1100, 6, 3},
		}
		if testing.Short() {
			sizes = sizes[:5]
		}
		runBlockEdgeSizes(t, sizes)
		defer SetThreads(SetThreads(1))
		for _, tc := range []gemmCase{
			{m: 700, n: 8, k: kr.kc + 9, alpha: 1, beta: 0},
			{transA: true, m: 1500, n: 5, k: 300, alpha: 0.5, beta: 1},
		} {
			checkSameOverThreads(t, tc)
		}
	})
}

// TestAsmRandomShapes checks every micro-kernel against the reference on
// randomly drawn shapes, transposes, scalars, paddings and thread counts
// (a fixed seed, so that a failure reproduces).
func TestAsmRandomShapes(t *testing.T) {
	forEachAsmKernel(t, func(t *testing.T, kr *asmKernel) {
		defer SetThreads(SetThreads(1))
		rng := rand.New(rand.NewPCG(11, uint64(kr.mr*kr.nr)))
		n := 60
		if testing.Short() {
			n = 15
		}
		scalars := []float32{0, 1, -1, 0.5, 3}
		for range n {
			tc := gemmCase{
				transA: rng.IntN(2) == 1, transB: rng.IntN(2) == 1,
				m: 1 + rng.IntN(3*kr.mr+5), n: 1 + rng.IntN(3*kr.nr+5), k: 1 + rng.IntN(kr.kc+40),
				alpha: scalars[1+rng.IntN(len(scalars)-1)], beta: scalars[rng.IntN(len(scalars))],
				padA: rng.IntN(3), padB: rng.IntN(3), padC: rng.IntN(3),
			}
			SetThreads(1 + rng.IntN(3))
			runCase(t, tc, rng)
		}
	})
}

// TestAsmPropagatesNaN runs the shared NaN and infinity checks with every
// micro-kernel, on sizes that the backend would otherwise hand to the
// portable kernel.
func TestAsmPropagatesNaN(t *testing.T) {
	forEachAsmKernel(t, func(t *testing.T, _ *asmKernel) { testGemmPropagatesNaN(t) })
}

// TestAsmMatchesReference runs the shared reference sizes with every
// micro-kernel.
func TestAsmMatchesReference(t *testing.T) {
	forEachAsmKernel(t, func(t *testing.T, _ *asmKernel) { testGemmMatchesReference(t) })
}

// TestAsmThreadsDeterministic checks that the results of every
// micro-kernel are bit-for-bit the same on 1 to 4 threads, in all four
// transpose combinations; each case has work enough for several
// goroutines, which share the units of each panel out differently from run
// to run.
func TestAsmThreadsDeterministic(t *testing.T) {
	defer SetThreads(SetThreads(1))
	forEachAsmKernel(t, func(t *testing.T, kr *asmKernel) {
		for _, tc := range []gemmCase{
			{m: 300, n: 70, k: 300, alpha: 1, beta: 0},                                            // rows
			{transA: true, m: 130, n: 500, k: 70, alpha: 0.5, beta: 1},                            // columns
			{transB: true, m: 131, n: 129, k: kr.kc + 7, alpha: -1, beta: 0.5},                    // rows, odd
			{transA: true, transB: true, m: 66, n: kr.nc + 100, k: 33, alpha: 1, beta: 0},         // n > nc
			{m: 2*kr.mc + 5, n: 97, k: 2*kr.kc + 1, alpha: 1.5, beta: -2},                         // m > mc, three panels of k
			{transB: true, m: 3*kr.mr + 1, n: 7 * kr.nr, k: kr.kc - 3, alpha: 1, beta: 0.25},      // columns, short m
			{m: asmRowsMax(kr) + 3, n: 2*asmColsPerUnit(kr) + 1, k: kr.kc + 2, alpha: 1, beta: 0}, // groups of rows
		} {
			checkSameOverThreads(t, tc)
		}
	})
}

// TestAsmKernelBlocking checks every kernel's blocking: the tile fits the
// edge scratch, mc is a multiple of mr, nc of nr, a unit's block of B
// leaves most of a 1 MiB L2 free, and depth cuts k into as few panels as
// kc allows, none deeper than kc and the last no deeper than the others.
func TestAsmKernelBlocking(t *testing.T) {
	for _, kr := range allAsmKernels() {
		if kr.mr*kr.nr > asmMaxTile {
			t.Errorf("%s: a %d×%d tile does not fit the edge scratch (%d floats)", kr.name, kr.mr, kr.nr, asmMaxTile)
		}
		if kr.mc%kr.mr != 0 || kr.nc%kr.nr != 0 || kr.kc < 4 {
			t.Errorf("%s: mc %d, nc %d not multiples of mr %d, nr %d (kc %d)", kr.name, kr.mc, kr.nc, kr.mr, kr.nr, kr.kc)
		}
		if l2 := kr.kc * asmColsPerUnit(kr) * 4; l2 > 320<<10 {
			t.Errorf("%s: a unit's block of B takes %d bytes, more than a 1 MiB L2 keeps beside the rest", kr.name, l2)
		}
		for _, k := range []int{1, kr.kc - 1, kr.kc, kr.kc + 1, 3*kr.kc + 7, 49152} {
			d := kr.depth(k)
			panels := (k + d - 1) / d
			if d < 1 || d > kr.kc || panels != (k+kr.kc-1)/kr.kc || k-(panels-1)*d > d {
				t.Errorf("%s: depth(%d) = %d: %d panels", kr.name, k, d, panels)
			}
		}
	}
	if b, err := asmBackend(); err == nil {
		t.Logf("asm backend: %s", b.detail)
	} else {
		t.Logf("asm backend unavailable: %v", err)
	}
}

// TestAsmBackendFor checks ORTHOTUNE_GEMM=asm:ISA's backends: each kernel
// this CPU runs computes a product with the portable kernel's thin-product
// rules (and no switch to a narrower kernel) within the reference's
// tolerance, and an unknown or unsupported kernel is an error.
func TestAsmBackendFor(t *testing.T) {
	for _, kr := range testAsmKernels(t) {
		b, err := asmBackendFor(kr.name)
		if err != nil {
			t.Fatalf("asmBackendFor(%q): %v", kr.name, err)
		}
		if b.detail != kr.name+", forced" {
			t.Errorf("asmBackendFor(%q).detail = %q", kr.name, b.detail)
		}
		useBackend(t, b)
		rng := rand.New(rand.NewPCG(9, 10))
		for _, tc := range []gemmCase{
			{m: 37, n: 16, k: 41, alpha: 1, beta: 0.5},
			{transA: true, transB: true, m: 29, n: 70, k: 9, alpha: -2, beta: 0},
			{m: 1, n: 40, k: 7, alpha: 1, beta: 0},
		} {
			runCase(t, tc, rng)
		}
	}
	for _, isa := range []string{"", "sse", "avx512x"} {
		if _, err := asmBackendFor(isa); err == nil {
			t.Errorf("asmBackendFor(%q) succeeded", isa)
		}
	}
}

// BenchmarkGemmAsmKernels runs each micro-kernel this CPU has on the GEMM
// benchmark's square and MLP shapes, on one thread and on all.
//
//	go test -run '^$' -bench GemmAsmKernels ./kernels
func BenchmarkGemmAsmKernels(b *testing.B) {
	for _, threads := range uniqueThreads() {
		for _, kr := range testAsmKernels(b) {
			for _, s := range mainShapes {
				b.Run(fmt.Sprintf("threads%d/%s/%s", threads, kr.name, s.name()), func(b *testing.B) {
					defer SetThreads(SetThreads(threads))
					useBackend(b, asmKernelBackend(kr))
					benchGemm(b, s)
				})
			}
		}
	}
}

// uniqueThreads is 1 and Threads(), once each.
func uniqueThreads() []int {
	if Threads() == 1 {
		return []int{1}
	}
	return []int{1, Threads()}
}

// TestAsmPackHelpers checks the packers' vector helpers, where the CPU has
// them (amd64), against plain loops: strided row copies of every width
// (copyRows8AVX's two unrolled widths and its general loop; copyRowsShortAVX's
// 4 to 16 floats) and runs of 8×8 transposes, the values around what each
// writes left alone.
func TestAsmPackHelpers(t *testing.T) {
	if packCopyRows8 == nil || packTranspose8 == nil || packCopyRowsShort == nil {
		t.Skip("no vector pack helpers on " + runtime.GOARCH)
	}
	if len(asmKernels()) == 0 {
		t.Skip("the CPU runs no assembly kernel, so the helpers (AVX) are never used")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	src := make([]float32, 64*70)
	for i := range src {
		src[i] = rng.Float32()
	}
	const lds = 70 // floats between source rows
	for width8 := 1; width8 <= 5; width8++ {
		for _, rows := range []int{1, 3, 8} {
			dst := make([]float32, rows*width8*8+8)
			want := slices.Clone(dst)
			for r := range rows {
				copy(want[r*width8*8:], src[3+r*lds:][:width8*8])
			}
			packCopyRows8(&dst[0], &src[3], lds*4, rows, width8)
			if !slices.Equal(dst, want) {
				t.Errorf("copyRows8AVX(rows %d, width8 %d) differs from a copy loop", rows, width8)
			}
		}
	}
	for width := 4; width <= 16; width++ {
		for _, rows := range []int{1, 3, 8} {
			dst := make([]float32, rows*width+8)
			for i := range dst {
				dst[i] = -1
			}
			want := slices.Clone(dst)
			for r := range rows {
				copy(want[2+r*width:], src[3+r*lds:][:width])
			}
			packCopyRowsShort(&dst[2], &src[3], lds*4, rows, width)
			if !slices.Equal(dst, want) {
				t.Errorf("copyRowsShortAVX(rows %d, width %d) differs from a copy loop", rows, width)
			}
		}
	}
	for blocks := 1; blocks <= 3; blocks++ {
		const ldd = 12 // floats between destination rows
		dst := make([]float32, 8*blocks*ldd+4)
		for i := range dst {
			dst[i] = -1
		}
		want := slices.Clone(dst)
		for b := range blocks {
			for r := range 8 {
				for c := range 8 {
					// Block b's column c is destination row 8b+c.
					want[(8*b+c)*ldd+2+r] = src[5+r*lds+8*b+c]
				}
			}
		}
		packTranspose8(&dst[2], ldd*4, &src[5], lds*4, blocks)
		if !slices.Equal(dst, want) {
			t.Errorf("transpose8x8AVX(blocks %d) differs from a transposing loop", blocks)
		}
	}
}

// TestAsmScalarsLayout: the AVX-512 kernel reads A's row stride at byte 8
// of what ab points at (asmDirectA).
func TestAsmScalarsLayout(t *testing.T) {
	var sc asmScalars
	if off := unsafe.Offsetof(sc.ldaBytes); off != 8 || unsafe.Offsetof(sc.ab) != 0 {
		t.Fatalf("asmScalars: ab at %d, ldaBytes at %d; the kernels read them at 0 and 8", unsafe.Offsetof(sc.ab), off)
	}
}
