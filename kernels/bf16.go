package kernels

import (
	"math"
	"sync"
)

// GemmBF16 is Gemm with B stored as bfloat16 (the top 16 bits of a
// float32): frozen base weights kept at half the memory. B is widened to
// float32 exactly (bfloat16 → float32 loses nothing) into a pooled scratch
// matrix just before the product, one call at a time, so the float32 copy
// of only one weight exists at once per goroutine; the product itself is
// Gemm's, on whatever backend is selected, and its results are identical
// to Gemm's on the widened B.
//
// ldb is B's row stride in elements, as for Gemm.
func GemmBF16(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if br == 0 || bc == 0 {
		Gemm(transA, transB, m, n, k, alpha, a, lda, nil, ldb, beta, c, ldc)
		return
	}
	if ldb < bc || len(b) < (br-1)*ldb+bc {
		// Let Gemm's checks produce the message.
		checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	}
	s := bf16Pool.Get().(*bf16Scratch)
	s.f = growF32(s.f, br*bc)
	w := s.f
	for i := range br {
		row, dst := b[i*ldb:][:bc], w[i*bc:][:bc]
		for j, h := range row {
			dst[j] = math.Float32frombits(uint32(h) << 16)
		}
	}
	Gemm(transA, transB, m, n, k, alpha, a, lda, w, bc, beta, c, ldc)
	bf16Pool.Put(s)
}

type bf16Scratch struct{ f []float32 }

var bf16Pool = sync.Pool{New: func() any { return new(bf16Scratch) }}

func growF32(s []float32, n int) []float32 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float32, n)
}
