package kernels

import "fmt"

// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major float32
// matrices, where op(A) is m×k (A itself is k×m when transA is set) and op(B)
// is k×n (B is n×k when transB is set). lda, ldb and ldc are the row strides
// of A, B and C as stored; elements of C outside its m×n window are never
// touched.
//
// beta = 0 overwrites C without reading it, so C may hold NaNs or garbage.
// As in BLAS, alpha = 0 or k = 0 reduces the call to C = beta·C and leaves A
// and B unread; otherwise NaNs and infinities in A and B propagate to C as
// IEEE arithmetic dictates (no entries are skipped). Results are
// deterministic: they do not depend on Threads().
//
// Gemm panics if a dimension is negative, a leading dimension is smaller
// than the row it strides over, or a slice is too short for its matrix.
//
// Gemm is the single entry point for matrix products in orthotune.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	selected.gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// scaleC sets C = beta·C, writing zeros without reading C when beta is 0.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := range m {
		row := c[i*ldc:][:n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

func checkGemm(transA, transB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels.Gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	need := func(what string, rows, cols, ld, have int) {
		if rows == 0 || cols == 0 {
			return
		}
		if ld < cols {
			panic(fmt.Sprintf("kernels.Gemm: %s leading dimension %d < %d columns", what, ld, cols))
		}
		if want := (rows-1)*ld + cols; have < want {
			panic(fmt.Sprintf("kernels.Gemm: %s has %d elements, needs %d (%d×%d, ld %d)", what, have, want, rows, cols, ld))
		}
	}
	need("A", ar, ac, lda, la)
	need("B", br, bc, ldb, lb)
	need("C", m, n, ldc, lc)
}
