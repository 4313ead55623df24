// Package kernels holds orthotune's numerical hot loops: the single GEMM entry
// point that every matrix product in the project goes through, and the
// parallel-for helper the rest of the code uses to spread work over the
// machine's cores.
//
// All matrices are dense, row-major float32 with an explicit leading
// dimension, as in BLAS. Gemm validates its arguments, handles the
// degenerate cases and dispatches to a backend; a faster backend (a system
// BLAS loaded at run time, a SIMD kernel) would replace only that backend
// (gemmImpl), leaving Gemm's contract and checks in place.
package kernels
