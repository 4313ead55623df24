// Package kernels holds orthotune's numerical hot loops: the single GEMM entry
// point that every matrix product in the project goes through, the
// parallel-for helper the rest of the code uses to spread work over the
// machine's cores (and Concurrently, for work already split one piece per
// core), vector exponential, sigmoid and max loops, and the training step's
// other elementwise loops (Add, MulMul, SwiGLUGrad, RotatePairs, SumSquares,
// DotMul, ScaleMul, MulSubScaled), each with an AVX2 loop in Go assembly
// where the CPU has one and a portable loop that gives the same results.
//
// All matrices are dense, row-major float32 with an explicit leading
// dimension, as in BLAS. Gemm validates its arguments, handles the
// degenerate cases and dispatches to the fastest backend available at run
// time: a system BLAS (OpenBLAS, MKL, BLIS, Accelerate) loaded with purego
// without cgo; else Go-assembly micro-kernels chosen from the CPU's
// features (amd64 AVX-512F or AVX2+FMA, arm64 NEON; every build but
// purego's); else a SIMD kernel (built with GOEXPERIMENT=simd on amd64);
// else the portable Go kernel. ORTHOTUNE_GEMM=blas|asm|simd|go forces one;
// GemmKernel names the one in use and GemmKernelReason why. Tiny products
// run in Go whatever the backend, where a foreign call's overhead would
// dominate. GemmBlockDiag and GemmBlockDiagGrad multiply by a
// block-diagonal matrix and take its blocks' gradient (OFT's rotations),
// with the assembly kernels reading the operands in place a sliver of rows
// at a time where they can, through Gemm otherwise.
package kernels
