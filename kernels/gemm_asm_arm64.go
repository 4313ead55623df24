//go:build arm64 && !purego

package kernels

import (
	"errors"

	"golang.org/x/sys/cpu"
)

// The arm64 micro-kernel (gemm_asm_arm64.s): NEON, 8×12. Its 24 quad-word
// accumulators hold the tile, 3 registers the step's 12 values of B and 2
// the step's 8 values of A, from which each FMLA takes one lane by element
// (no broadcasts needed): per step of k, two loads feed 24 FMLAs. A is
// packed step by step whatever its layout. The sliver of A (kc 256:
// 8 KiB) stays in L1 with a sliver of B (12 KiB) streaming past it, and a
// unit's kc×8nr block of B (96 KiB) in L2. Correctness is tested under
// qemu-user; the blocking is not tuned on hardware.
var asmNEON = asmKernel{name: "neon", mr: 8, nr: 12, kc: 256, mc: 120, nc: 1020,
	micro: gemmMicro8x12NEON}

// asmKernels lists the micro-kernels this CPU can run, fastest first.
func asmKernels() []*asmKernel {
	if cpu.ARM64.HasASIMD {
		return []*asmKernel{&asmNEON}
	}
	return nil
}

// asmKernelForCPU returns the micro-kernel for this CPU, or an error naming
// what it lacks.
func asmKernelForCPU() (*asmKernel, error) {
	if ks := asmKernels(); len(ks) > 0 {
		return ks[0], nil
	}
	return nil, errors.New("CPU lacks Advanced SIMD (NEON)")
}

// asmKernelWhy says why asmKernelForCPU chose its kernel.
func asmKernelWhy() string { return "the CPU has Advanced SIMD (NEON)" }

// gemmMicro8x12NEON is asmKernel.micro for NEON, mr = 8, nr = 12.
//
//go:noescape
func gemmMicro8x12NEON(a, b *float32, kc int, c *float32, ldc uintptr, ab *[2]float32, mode asmMode)

// asmAllAMD64 is for tests on amd64; there is no amd64 kernel here.
func asmAllAMD64() []*asmKernel { return nil }

// packTranspose8, packCopyRows8 and packCopyRowsShort are nil: packBAsm
// and packAAsm gather and copy in Go here.
var (
	packTranspose8    func(dst *float32, ldd uintptr, src *float32, lds uintptr, blocks int)
	packCopyRows8     func(dst *float32, src *float32, lds uintptr, rows, width8 int)
	packCopyRowsShort func(dst *float32, src *float32, lds uintptr, rows, width int)
)
