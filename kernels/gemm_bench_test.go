package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShape is one GEMM benchmark case: C (m×n) = op(A)·op(B), op(A) m×k.
type benchShape struct {
	transA, transB bool
	m, n, k        int
}

// name is "MxNxK", with a "_TN"-style suffix when an operand is transposed.
func (s benchShape) name() string {
	name := fmt.Sprintf("%dx%dx%d", s.m, s.n, s.k)
	if s.transA || s.transB {
		t := []byte("NN")
		if s.transA {
			t[0] = 'T'
		}
		if s.transB {
			t[1] = 'T'
		}
		name += "_" + string(t)
	}
	return name
}

// mainShapes are the products that dominate training: square 1024³ and the
// 512×768×3072 MLP product in the three layouts forward and backward passes
// use (NN forward, TN for weight gradients, NT for input gradients).
var mainShapes = []benchShape{
	{m: 1024, n: 1024, k: 1024},
	{m: 512, n: 768, k: 3072},
	{transA: true, m: 512, n: 768, k: 3072},
	{transB: true, m: 512, n: 768, k: 3072},
}

// BenchmarkGemm measures Gemm throughput of every available backend with
// the default thread count on
// the main shapes, a thin OFT-block-like product, a small cube and a
// matrix–vector-like product.
func BenchmarkGemm(b *testing.B) {
	shapes := append(mainShapes[:len(mainShapes):len(mainShapes)],
		benchShape{m: 4096, n: 16, k: 16},
		benchShape{m: 64, n: 64, k: 64},
		benchShape{m: 1, n: 768, k: 768},
	)
	forEachBackendB(b, func(b *testing.B) {
		for _, s := range shapes {
			b.Run(s.name(), func(b *testing.B) { benchGemm(b, s) })
		}
	})
}

// BenchmarkGemmThreads1 measures the main shapes on one thread, to separate
// single-core efficiency from parallel scaling.
func BenchmarkGemmThreads1(b *testing.B) {
	defer SetThreads(SetThreads(1))
	forEachBackendB(b, func(b *testing.B) {
		for _, s := range mainShapes {
			b.Run(s.name(), func(b *testing.B) { benchGemm(b, s) })
		}
	})
}

// forEachBackendB runs fn as a sub-benchmark once per available backend
// (BenchmarkGemm/blas/1024x1024x1024 and so on), so that one run compares
// them.
func forEachBackendB(b *testing.B, fn func(b *testing.B)) {
	for _, be := range availableBackends(b) {
		b.Run(be.name, func(b *testing.B) {
			useBackend(b, be)
			fn(b)
		})
	}
}

func benchGemm(b *testing.B, s benchShape) {
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = rng.Float32()*2 - 1
		}
		return x
	}
	lda, ldb := s.k, s.n
	if s.transA {
		lda = s.m
	}
	if s.transB {
		ldb = s.k
	}
	a, bm, c := fill(s.m*s.k), fill(s.k*s.n), fill(s.m*s.n)
	Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n) // warm the pools
	b.ReportAllocs()
	for b.Loop() {
		Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
	}
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// loraShapes are a LoRA adapter's rank-8 products on a SmolLM2-sized layer
// (512 tokens, 576 → 1536): X·Aᵀ forward, dYᵀ·H into B's gradient and dY·B
// into the input's, each a product of at most 8 columns, and the
// products of depth 8 beside them.
var loraShapes = []benchShape{
	{transB: true, m: 512, n: 8, k: 576},
	{transA: true, m: 1536, n: 8, k: 512},
	{m: 512, n: 8, k: 1536},
	{transB: true, m: 512, n: 1536, k: 8},
	{transA: true, m: 8, n: 576, k: 512},
	{m: 512, n: 576, k: 8},
}

// BenchmarkGemmLoRA measures loraShapes on one thread, as each replica of
// a data-parallel step runs them.
func BenchmarkGemmLoRA(b *testing.B) {
	defer SetThreads(SetThreads(1))
	forEachBackendB(b, func(b *testing.B) {
		for _, s := range loraShapes {
			b.Run(s.name(), func(b *testing.B) { benchGemm(b, s) })
		}
	})
}
