//go:build goexperiment.simd && amd64

package kernels

import (
	"fmt"
	"simd/archsimd"
	"testing"
)

// simdKernels lists the micro-kernels this CPU can run: on an AVX-512
// machine both AVX-512 ones and the AVX2 one are tested.
func simdKernels(t testing.TB) []*simdKernel {
	var out []*simdKernel
	if archsimd.X86.AVX512() {
		out = append(out, &kernelAVX512, &kernelAVX512B)
	}
	if archsimd.X86.AVX2() && archsimd.X86.FMA() {
		out = append(out, &kernelAVX2)
	}
	if len(out) == 0 {
		t.Skip("CPU has neither AVX-512 nor AVX2 with FMA")
	}
	return out
}

// forEachSIMDKernel runs fn as a subtest once per micro-kernel, with Gemm
// dispatching every product (thin ones included) to it.
func forEachSIMDKernel(t *testing.T, fn func(t *testing.T, kr *simdKernel)) {
	for _, kr := range simdKernels(t) {
		t.Run(kr.name, func(t *testing.T) {
			useBackend(t, simdKernelBackend(kr))
			fn(t, kr)
		})
	}
}

// simdKernelBackend is the SIMD backend with every product on kernel kr.
func simdKernelBackend(kr *simdKernel) backend {
	return backend{name: "simd", detail: kr.name, gemm: func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		gemmSIMDWith(kr, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}}
}

// TestSIMDBlockEdges checks every micro-kernel against the float64
// reference on sizes one either side of its tile and cache-block
// boundaries (mr, nr, kc, nc and a group of simdPanels panels), in
// all four transpose combinations, with and without padded leading
// dimensions, on one and two threads.
func TestSIMDBlockEdges(t *testing.T) {
	forEachSIMDKernel(t, func(t *testing.T, kr *simdKernel) {
		mr, nr, kc, nc := kr.mr, kr.nr, kr.kc, kr.nc
		sizes := [][3]int{ // m, n, k
			{1, 1, 1}, {mr, nr, 1}, {mr - 1, nr - 1, 2}, {mr + 1, nr + 1, 3},
			{2*mr + 3, 3*nr - 5, kc - 1}, {3 * mr, 2 * nr, kc},
			{4*mr + 1, nr + 7, kc + 1}, {7, 2*nr + 1, 2*kc + 5},
			{mr + 2, nc + nr + 3, 17}, {53, 61, 300},
			{mr + 1, nc, simdPanels*kc + 5}, // a full group of panels, then one more
		}
		if testing.Short() {
			sizes = sizes[:6]
		}
		runBlockEdgeSizes(t, sizes)
	})
}

// TestSIMDPropagatesNaN runs the shared NaN and infinity checks with every
// micro-kernel, on sizes that the backend would otherwise hand to the
// portable kernel.
func TestSIMDPropagatesNaN(t *testing.T) {
	forEachSIMDKernel(t, func(t *testing.T, _ *simdKernel) { testGemmPropagatesNaN(t) })
}

// TestSIMDMatchesReference runs the shared reference sizes with every
// micro-kernel.
func TestSIMDMatchesReference(t *testing.T) {
	forEachSIMDKernel(t, func(t *testing.T, _ *simdKernel) { testGemmMatchesReference(t) })
}

// TestSIMDThreadsDeterministic checks that the SIMD results are bit-for-bit
// the same on 1 to 4 threads, in all four transpose combinations; each
// case has work enough for two or three goroutines.
func TestSIMDThreadsDeterministic(t *testing.T) {
	defer SetThreads(SetThreads(1))
	forEachSIMDKernel(t, func(t *testing.T, kr *simdKernel) {
		for _, tc := range []gemmCase{
			{m: 300, n: 70, k: 300, alpha: 1, beta: 0},
			{transA: true, m: 130, n: 500, k: 70, alpha: 0.5, beta: 1},
			{transB: true, m: 131, n: 400, k: kr.kc + 7, alpha: -1, beta: 0.5},
			{transA: true, transB: true, m: 66, n: kr.nc + 100, k: 33, alpha: 1, beta: 0}, // n > nc
			{m: 203, n: 97, k: simdPanels*kr.kc + 1, alpha: 1.5, beta: -2},                // two groups of panels
		} {
			checkSameOverThreads(t, tc)
		}
	})
}

// TestSIMDKernelChoice checks that every kernel's blocking fits the
// buffers, and the choice of kernel by CPU model.
func TestSIMDKernelChoice(t *testing.T) {
	for _, kr := range []*simdKernel{&kernelAVX512, &kernelAVX512B, &kernelAVX2} {
		if kr.kc*kr.nc > simdPanelFloats || kr.sliverFloats > simdSliverFloats || kr.sliverFloats < kr.kc*kr.mr || kr.nc%kr.nr != 0 || kr.mr*kr.nr > simdMaxTile {
			t.Errorf("%s: kc %d, nc %d do not fit the buffers (panel %d, sliver %d floats)", kr.name, kr.kc, kr.nc, simdPanelFloats, simdSliverFloats)
		}
	}
	if !archsimd.X86.AVX512() {
		t.Skip("the AVX-512 kernels' choice needs AVX-512")
	}
	for _, tc := range []struct {
		cpu  x86Model
		want *simdKernel
	}{
		{x86Model{"AuthenticAMD", 0x1a}, &kernelAVX512B}, // Zen 5
		{x86Model{"AuthenticAMD", 0x19}, &kernelAVX512},  // Zen 4
		{x86Model{"GenuineIntel", 6}, &kernelAVX512},
		{x86Model{}, &kernelAVX512},
	} {
		if got := simdKernelFor(tc.cpu); got != tc.want {
			t.Errorf("simdKernelFor(%+v) = %s, want %s", tc.cpu, got.name, tc.want.name)
		}
	}
}

// BenchmarkGemmSIMDKernels runs each micro-kernel this CPU has on the
// GEMM benchmark's square and MLP shapes, on one thread and on all: the
// figures behind simdKernelFor.
//
//	GOEXPERIMENT=simd go test -run '^$' -bench GemmSIMDKernels ./kernels
func BenchmarkGemmSIMDKernels(b *testing.B) {
	for _, threads := range []int{1, Threads()} {
		for _, kr := range simdKernels(b) {
			for _, s := range mainShapes[:2] {
				b.Run(fmt.Sprintf("threads%d/%s/%s", threads, kr.name, s.name()), func(b *testing.B) {
					defer SetThreads(SetThreads(threads))
					useBackend(b, simdKernelBackend(kr))
					benchGemm(b, s)
				})
			}
		}
	}
}
