//go:build amd64 && !purego

package kernels

import (
	"errors"

	"golang.org/x/sys/cpu"
)

// The amd64 micro-kernels (gemm_asm_amd64.s). Both keep their whole tile of
// C in vector registers, load the packed sliver of B with aligned vector
// loads and broadcast each element of A from memory (VBROADCASTSS m32, a
// load-port operation that does not compete with the FMAs for an execution
// port).
//
//   - AVX2+FMA, 6×16: 12 ymm accumulators, 2 for B, 2 for broadcasts (all
//     16). Per step of k, 2 loads and 6 broadcasts feed 12 FMAs.
//   - AVX-512F, 14×32: 28 zmm accumulators, 2 for B, 2 for broadcasts (all
//     32). Per step, 2 loads and 14 broadcasts feed 28 FMAs.
//
// The AVX-512 kernel has a short kernel of 8 or 4 rows (16 or 8 zmm
// accumulators) for a product's ragged last sliver of A, which the 14-row
// kernel computed through a scratch tile, most of its FMAs on padding. One
// Zen 5 core, alternating runs: the head's 128×49152×576 (B transposed)
// 150 → 163 GFLOP/s and 128×576×49152 141–153 → 162–165, 512×576×576 (B
// transposed) 186–188 → 198, an attention tile's 32×256×64 125–127 → 162,
// OFT's block gradient 32×32×512 (A transposed) 92 → 108.
//
// The AVX-512 kernel also reads whole slivers of a row-major B in place
// (asmDirectB, B's row stride at 16(ab)), leaving only a ragged last
// sliver to pack: the products into the input gradient (dY·W) no longer
// copy the frozen weight. One Zen 5 core, two alternating runs: the head's
// 128×576×49152 152–154 → 167–168 GFLOP/s, 512×576×1536 179–182 → 182–184,
// 512×1536×576 180–184 → 183–189, the rest within the noise.
//
// A row-major A is packed as rows (packARowsAsm) and its elements broadcast
// from a constant offset per row; a transposed A step by step. The AVX-512
// kernel reads whole slivers of a row-major A in place instead (asmDirectA:
// three row pointers and 1, 2, 4 × the row stride and 3 × it in registers
// reach its 14 rows), so that only the ragged last sliver is packed; not
// where the rows are a multiple of 4 KiB apart, which would put all 14 in
// the same L1 sets. On SmolLM2's products, one Zen 5 core, medians of six
// alternating runs: 512×1536×576 (B transposed) 191 → 194 GFLOP/s,
// 512×192×576 198 → 203, the rest within ±1%.
//
// Blocking: a unit's kc×4nr block of B stays in L2 while the slivers of A
// sweep it. AVX2, kc 256: a 6 KiB sliver of A stays in L1 beside a 16 KiB
// one of B streaming past it (a 32 KiB L1), the block 64 KiB. AVX-512, kc
// 576 (a product's k in as few panels as that allows, of equal depths:
// asmKernel.depth): the block is 288 KiB of a 1 MiB L2, and both slivers
// (32 KiB of A, 72 KiB of B) stream from L2, the hardware prefetcher
// ahead of the loop. Against kc 192, where both slivers fit a 48 KiB L1,
// the tile of C is loaded and stored a third as often and the kernel's
// loop runs three times as long a call; two Zen 5 cores, each running
// its own product single-threaded (as the replicas of a training step
// do), two or three runs each: SmolLM2's 512×1536×576 344–359 → 364–383
// GFLOP/s, with B transposed 328–351 → 356–376, 512×576×1536 359–385 →
// 377–389, the head's 128×49152×576 (B transposed) 297–319 → 313–321; kc
// 768 and 1024 were slower again. 1024³, two threads: 263–287 → 328–332.
var (
	asmAVX2 = asmKernel{name: "avx2", mr: 6, nr: 16, kc: 256, mc: 144, nc: 1024,
		micro: gemmMicro6x16AVX2, rowsA: true}
	asmAVX512 = asmKernel{name: "avx512", mr: 14, nr: 32, kc: 576, mc: 168, nc: 1024,
		micro: gemmMicro14x32AVX512, rowsA: true, directA: true, directB: true,
		short: gemmMicroShortAVX512, shortHeights: []int{4, 8}}
)

// asmKernels lists the micro-kernels this CPU can run, fastest first.
func asmKernels() []*asmKernel {
	var out []*asmKernel
	if cpu.X86.HasAVX512F {
		out = append(out, &asmAVX512)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		out = append(out, &asmAVX2)
	}
	return out
}

func init() {
	// Products of at most 16 columns would fill only half of the AVX-512
	// kernel's tiles: 4096×16×16 ran at 30 GFLOP/s on the AVX2 kernel
	// against 24 on the AVX-512 one (Zen 5, one run on a busy machine).
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		asmAVX512.narrow = &asmAVX2
	}
}

// asmKernelForCPU returns the fastest micro-kernel this CPU (and OS: the
// feature bits count only where the OS saves the vector registers) runs,
// or an error naming what it lacks.
func asmKernelForCPU() (*asmKernel, error) {
	if ks := asmKernels(); len(ks) > 0 {
		return ks[0], nil
	}
	if !cpu.X86.HasAVX2 {
		return nil, errors.New("CPU lacks AVX2")
	}
	return nil, errors.New("CPU lacks FMA")
}

// asmKernelWhy says why asmKernelForCPU chose its kernel.
func asmKernelWhy() string {
	if cpu.X86.HasAVX512F {
		return "CPUID reports AVX-512F (and the OS saves ZMM registers)"
	}
	return "CPUID reports AVX2 and FMA but no AVX-512F"
}

// gemmMicro6x16AVX2 is asmKernel.micro for AVX2+FMA, mr = 6, nr = 16.
//
//go:noescape
func gemmMicro6x16AVX2(a, b *float32, kc int, c *float32, ldc uintptr, ab *[2]float32, mode asmMode)

// gemmMicro14x32AVX512 is asmKernel.micro for AVX-512F, mr = 14, nr = 32.
//
//go:noescape
func gemmMicro14x32AVX512(a, b *float32, kc int, c *float32, ldc uintptr, ab *[2]float32, mode asmMode)

// gemmMicroShortAVX512 is the AVX-512 kernel's short kernel
// (asmKernel.short), height 8 or 4 rows of 32 columns.
//
//go:noescape
func gemmMicroShortAVX512(a, b *float32, kc int, c *float32, ldc uintptr, ab *[2]float32, mode asmMode, rows int, aRow, aStep, bStep uintptr, height int)

// asmAllAMD64 lists every amd64 micro-kernel, whether or not the CPU runs
// it (for tests).
func asmAllAMD64() []*asmKernel { return []*asmKernel{&asmAVX512, &asmAVX2} }

// transpose8x8AVX writes the transposes of blocks 8×8 blocks of floats,
// side by side at src (rows lds bytes apart, block b at src + 32b bytes),
// one under another at dst (rows ldd bytes apart, block b at dst + 8b·ldd
// bytes). It needs AVX, which every CPU running the micro-kernels has.
//
//go:noescape
func transpose8x8AVX(dst *float32, ldd uintptr, src *float32, lds uintptr, blocks int)

// copyRows8AVX copies rows rows of width8·8 floats, lds bytes apart at
// src, to consecutive rows at dst (width8·32 bytes apart). It needs AVX.
//
//go:noescape
func copyRows8AVX(dst *float32, src *float32, lds uintptr, rows, width8 int)

// copyRowsShortAVX copies rows rows of width floats (4 ≤ width ≤ 16), lds
// bytes apart at src, to consecutive rows at dst (width·4 bytes apart),
// each row as two vector moves that may overlap. It needs AVX.
//
//go:noescape
func copyRowsShortAVX(dst *float32, src *float32, lds uintptr, rows, width int)

// packTranspose8 and packCopyRows8 are transpose8x8AVX and copyRows8AVX,
// for packBAsm; packCopyRowsShort is copyRowsShortAVX, for packAAsm.
var (
	packTranspose8    = transpose8x8AVX
	packCopyRows8     = copyRows8AVX
	packCopyRowsShort = copyRowsShortAVX
)
