//go:build goexperiment.simd && amd64

package kernels

import (
	"simd/archsimd"
	"unsafe"
)

// The micro-kernels are written out in full: each step of k loads the
// vectors it needs and feeds them straight to their FMAs, in source order.
// The Go scheduler keeps that order only within one basic block and among
// values positioned in this file, so the loops are single blocks (the exit
// test at the bottom) and call archsimd's intrinsics directly rather than
// through helpers, which would carry positions in other files and be
// scheduled after everything else, hoisting all the loads to the top of the
// loop and spilling. Four steps per iteration amortise the register moves
// at the back edge: MulAdd leaves each accumulator in another register (see
// gemm_simd_amd64.go), and the allocator moves them back once per iteration.
//
// In each step the last row's FMAs take the vectors of B as their destroyed
// operand, since that is their last use, so only the first four rows need
// a copy of their vector of A: 10 FMAs, 7 loads and 4 register copies a
// step. Copies are eliminated at rename, but every instruction takes a slot
// of the 6-wide front end, which with 2 FMAs a cycle is the limit.
//
// Shapes tried for AVX-512, with A pre-broadcast unless noted, each timed
// as the kernel alone on one core of an Intel Emerald Rapids machine: 5×32
// was the fastest, and the others lose for the reasons given. Sustained
// over seconds the chosen kernel runs somewhat below PeakGFLOPS.
// BENCHMARKS.md has the figures and how they were taken.
//
//	5×32            10 accumulators, 14 registers: chosen
//	4×32             8 accumulators, fewer FMAs per load
//	3×48             9 accumulators, 3 B loads per 9 FMAs
//	2×64             4 B loads and 6 copies per 8 FMAs
//	6×32            needs 16 registers: spills
//	4×48            needs 17 registers: spills
//	8×16            9 loads per 8 FMAs, past 2 per cycle
//	5×32, A scalar  VBROADCASTSS in the loop takes FMA slots on port 5
//
// One step per iteration instead of four was slower; two and eight were
// within noise of four.

// micro5x32AVX512 is the AVX-512 micro-kernel: a 5×32 tile of C in ten
// 16-lane accumulators, A pre-broadcast by expandA (kc steps of 5 vectors)
// and B packed by packBSIMD (kc steps of 32 values).
func micro5x32AVX512(a, b unsafe.Pointer, kc int, c unsafe.Pointer, ldc uintptr, ab *[2]float32, mode tileMode) {
	var c00, c01, c10, c11, c20, c21, c30, c31, c40, c41 archsimd.Float32x16
	if n := kc / 4; n > 0 {
		for {
			b00 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 0)))
			b01 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 64)))
			a00 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 0)))
			c00 = a00.MulAdd(b00, c00)
			c01 = a00.MulAdd(b01, c01)
			a01 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 64)))
			c10 = a01.MulAdd(b00, c10)
			c11 = a01.MulAdd(b01, c11)
			a02 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 128)))
			c20 = a02.MulAdd(b00, c20)
			c21 = a02.MulAdd(b01, c21)
			a03 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 192)))
			c30 = a03.MulAdd(b00, c30)
			c31 = a03.MulAdd(b01, c31)
			a04 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 256)))
			c40 = b00.MulAdd(a04, c40)
			c41 = b01.MulAdd(a04, c41)
			b10 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 128)))
			b11 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 192)))
			a10 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 320)))
			c00 = a10.MulAdd(b10, c00)
			c01 = a10.MulAdd(b11, c01)
			a11 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 384)))
			c10 = a11.MulAdd(b10, c10)
			c11 = a11.MulAdd(b11, c11)
			a12 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 448)))
			c20 = a12.MulAdd(b10, c20)
			c21 = a12.MulAdd(b11, c21)
			a13 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 512)))
			c30 = a13.MulAdd(b10, c30)
			c31 = a13.MulAdd(b11, c31)
			a14 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 576)))
			c40 = b10.MulAdd(a14, c40)
			c41 = b11.MulAdd(a14, c41)
			b20 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 256)))
			b21 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 320)))
			a20 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 640)))
			c00 = a20.MulAdd(b20, c00)
			c01 = a20.MulAdd(b21, c01)
			a21 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 704)))
			c10 = a21.MulAdd(b20, c10)
			c11 = a21.MulAdd(b21, c11)
			a22 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 768)))
			c20 = a22.MulAdd(b20, c20)
			c21 = a22.MulAdd(b21, c21)
			a23 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 832)))
			c30 = a23.MulAdd(b20, c30)
			c31 = a23.MulAdd(b21, c31)
			a24 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 896)))
			c40 = b20.MulAdd(a24, c40)
			c41 = b21.MulAdd(a24, c41)
			b30 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 384)))
			b31 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 448)))
			a30 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 960)))
			c00 = a30.MulAdd(b30, c00)
			c01 = a30.MulAdd(b31, c01)
			a31 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 1024)))
			c10 = a31.MulAdd(b30, c10)
			c11 = a31.MulAdd(b31, c11)
			a32 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 1088)))
			c20 = a32.MulAdd(b30, c20)
			c21 = a32.MulAdd(b31, c21)
			a33 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 1152)))
			c30 = a33.MulAdd(b30, c30)
			c31 = a33.MulAdd(b31, c31)
			a34 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 1216)))
			c40 = b30.MulAdd(a34, c40)
			c41 = b31.MulAdd(a34, c41)
			a, b = unsafe.Add(a, 1280), unsafe.Add(b, 512)
			if n--; n == 0 {
				break
			}
		}
	}
	if n := kc % 4; n > 0 {
		for {
			b00 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 0)))
			b01 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 64)))
			a00 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 0)))
			c00 = a00.MulAdd(b00, c00)
			c01 = a00.MulAdd(b01, c01)
			a01 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 64)))
			c10 = a01.MulAdd(b00, c10)
			c11 = a01.MulAdd(b01, c11)
			a02 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 128)))
			c20 = a02.MulAdd(b00, c20)
			c21 = a02.MulAdd(b01, c21)
			a03 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 192)))
			c30 = a03.MulAdd(b00, c30)
			c31 = a03.MulAdd(b01, c31)
			a04 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(a, 256)))
			c40 = b00.MulAdd(a04, c40)
			c41 = b01.MulAdd(a04, c41)
			a, b = unsafe.Add(a, 320), unsafe.Add(b, 128)
			if n--; n == 0 {
				break
			}
		}
	}
	// Write the tile into C, one row (ldc bytes) after another.
	av, bv := archsimd.BroadcastFloat32x16(ab[0]), archsimd.BroadcastFloat32x16(ab[1])
	writeRow16(c, c00, c01, av, bv, mode)
	writeRow16(unsafe.Add(c, 1*ldc), c10, c11, av, bv, mode)
	writeRow16(unsafe.Add(c, 2*ldc), c20, c21, av, bv, mode)
	writeRow16(unsafe.Add(c, 3*ldc), c30, c31, av, bv, mode)
	writeRow16(unsafe.Add(c, 4*ldc), c40, c41, av, bv, mode)
	archsimd.ClearAVXUpperBits()
}

// micro5x32AVX512Bcast is the AVX-512 micro-kernel that broadcasts A in
// its loop: a 5×32 tile of C in ten 16-lane accumulators, A packed by
// packARows (five rows of kc values, simdARowBytes apart), B packed by
// packBSIMD (kc steps of 32 values). Where a broadcast does not take an FMA unit's slot (AMD Zen
// 5) it computes as fast as micro5x32AVX512, and its sliver of A, 16
// times smaller, lets panels be deeper (see simdKernelFor).
func micro5x32AVX512Bcast(a, b unsafe.Pointer, kc int, c unsafe.Pointer, ldc uintptr, ab *[2]float32, mode tileMode) {
	var c00, c01, c10, c11, c20, c21, c30, c31, c40, c41 archsimd.Float32x16
	var z archsimd.Float32x4
	if n := kc / 4; n > 0 {
		for {
			b00 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 0)))
			b01 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 64)))
			a00 := z.SetElem(0, *(*float32)(unsafe.Add(a, 0))).Broadcast1To16()
			c00 = a00.MulAdd(b00, c00)
			c01 = a00.MulAdd(b01, c01)
			a01 := z.SetElem(0, *(*float32)(unsafe.Add(a, 1*simdARowBytes))).Broadcast1To16()
			c10 = a01.MulAdd(b00, c10)
			c11 = a01.MulAdd(b01, c11)
			a02 := z.SetElem(0, *(*float32)(unsafe.Add(a, 2*simdARowBytes))).Broadcast1To16()
			c20 = a02.MulAdd(b00, c20)
			c21 = a02.MulAdd(b01, c21)
			a03 := z.SetElem(0, *(*float32)(unsafe.Add(a, 3*simdARowBytes))).Broadcast1To16()
			c30 = a03.MulAdd(b00, c30)
			c31 = a03.MulAdd(b01, c31)
			a04 := z.SetElem(0, *(*float32)(unsafe.Add(a, 4*simdARowBytes))).Broadcast1To16()
			c40 = b00.MulAdd(a04, c40)
			c41 = b01.MulAdd(a04, c41)
			b10 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 128)))
			b11 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 192)))
			a10 := z.SetElem(0, *(*float32)(unsafe.Add(a, 4))).Broadcast1To16()
			c00 = a10.MulAdd(b10, c00)
			c01 = a10.MulAdd(b11, c01)
			a11 := z.SetElem(0, *(*float32)(unsafe.Add(a, 1*simdARowBytes+4))).Broadcast1To16()
			c10 = a11.MulAdd(b10, c10)
			c11 = a11.MulAdd(b11, c11)
			a12 := z.SetElem(0, *(*float32)(unsafe.Add(a, 2*simdARowBytes+4))).Broadcast1To16()
			c20 = a12.MulAdd(b10, c20)
			c21 = a12.MulAdd(b11, c21)
			a13 := z.SetElem(0, *(*float32)(unsafe.Add(a, 3*simdARowBytes+4))).Broadcast1To16()
			c30 = a13.MulAdd(b10, c30)
			c31 = a13.MulAdd(b11, c31)
			a14 := z.SetElem(0, *(*float32)(unsafe.Add(a, 4*simdARowBytes+4))).Broadcast1To16()
			c40 = b10.MulAdd(a14, c40)
			c41 = b11.MulAdd(a14, c41)
			b20 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 256)))
			b21 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 320)))
			a20 := z.SetElem(0, *(*float32)(unsafe.Add(a, 8))).Broadcast1To16()
			c00 = a20.MulAdd(b20, c00)
			c01 = a20.MulAdd(b21, c01)
			a21 := z.SetElem(0, *(*float32)(unsafe.Add(a, 1*simdARowBytes+8))).Broadcast1To16()
			c10 = a21.MulAdd(b20, c10)
			c11 = a21.MulAdd(b21, c11)
			a22 := z.SetElem(0, *(*float32)(unsafe.Add(a, 2*simdARowBytes+8))).Broadcast1To16()
			c20 = a22.MulAdd(b20, c20)
			c21 = a22.MulAdd(b21, c21)
			a23 := z.SetElem(0, *(*float32)(unsafe.Add(a, 3*simdARowBytes+8))).Broadcast1To16()
			c30 = a23.MulAdd(b20, c30)
			c31 = a23.MulAdd(b21, c31)
			a24 := z.SetElem(0, *(*float32)(unsafe.Add(a, 4*simdARowBytes+8))).Broadcast1To16()
			c40 = b20.MulAdd(a24, c40)
			c41 = b21.MulAdd(a24, c41)
			b30 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 384)))
			b31 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 448)))
			a30 := z.SetElem(0, *(*float32)(unsafe.Add(a, 12))).Broadcast1To16()
			c00 = a30.MulAdd(b30, c00)
			c01 = a30.MulAdd(b31, c01)
			a31 := z.SetElem(0, *(*float32)(unsafe.Add(a, 1*simdARowBytes+12))).Broadcast1To16()
			c10 = a31.MulAdd(b30, c10)
			c11 = a31.MulAdd(b31, c11)
			a32 := z.SetElem(0, *(*float32)(unsafe.Add(a, 2*simdARowBytes+12))).Broadcast1To16()
			c20 = a32.MulAdd(b30, c20)
			c21 = a32.MulAdd(b31, c21)
			a33 := z.SetElem(0, *(*float32)(unsafe.Add(a, 3*simdARowBytes+12))).Broadcast1To16()
			c30 = a33.MulAdd(b30, c30)
			c31 = a33.MulAdd(b31, c31)
			a34 := z.SetElem(0, *(*float32)(unsafe.Add(a, 4*simdARowBytes+12))).Broadcast1To16()
			c40 = b30.MulAdd(a34, c40)
			c41 = b31.MulAdd(a34, c41)
			a, b = unsafe.Add(a, 16), unsafe.Add(b, 512)
			if n--; n == 0 {
				break
			}
		}
	}
	if n := kc % 4; n > 0 {
		for {
			b00 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 0)))
			b01 := archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(b, 64)))
			a00 := z.SetElem(0, *(*float32)(unsafe.Add(a, 0))).Broadcast1To16()
			c00 = a00.MulAdd(b00, c00)
			c01 = a00.MulAdd(b01, c01)
			a01 := z.SetElem(0, *(*float32)(unsafe.Add(a, 1*simdARowBytes))).Broadcast1To16()
			c10 = a01.MulAdd(b00, c10)
			c11 = a01.MulAdd(b01, c11)
			a02 := z.SetElem(0, *(*float32)(unsafe.Add(a, 2*simdARowBytes))).Broadcast1To16()
			c20 = a02.MulAdd(b00, c20)
			c21 = a02.MulAdd(b01, c21)
			a03 := z.SetElem(0, *(*float32)(unsafe.Add(a, 3*simdARowBytes))).Broadcast1To16()
			c30 = a03.MulAdd(b00, c30)
			c31 = a03.MulAdd(b01, c31)
			a04 := z.SetElem(0, *(*float32)(unsafe.Add(a, 4*simdARowBytes))).Broadcast1To16()
			c40 = b00.MulAdd(a04, c40)
			c41 = b01.MulAdd(a04, c41)
			a, b = unsafe.Add(a, 4), unsafe.Add(b, 128)
			if n--; n == 0 {
				break
			}
		}
	}
	// Write the tile into C, one row (ldc bytes) after another.
	av, bv := archsimd.BroadcastFloat32x16(ab[0]), archsimd.BroadcastFloat32x16(ab[1])
	writeRow16(c, c00, c01, av, bv, mode)
	writeRow16(unsafe.Add(c, 1*ldc), c10, c11, av, bv, mode)
	writeRow16(unsafe.Add(c, 2*ldc), c20, c21, av, bv, mode)
	writeRow16(unsafe.Add(c, 3*ldc), c30, c31, av, bv, mode)
	writeRow16(unsafe.Add(c, 4*ldc), c40, c41, av, bv, mode)
	archsimd.ClearAVXUpperBits()
}

// micro5x16AVX2 is the AVX2 micro-kernel: a 5×16 tile of C in ten 8-lane
// accumulators, A packed plainly by packASIMD (kc steps of 5 values) and
// broadcast here, B packed by packBSIMD (kc steps of 16 values). Forced on
// an AVX-512 machine, it ran 1024³ on one core close to the rate of two
// 8-lane FMAs a cycle (BENCHMARKS.md has the measurement).
func micro5x16AVX2(a, b unsafe.Pointer, kc int, c unsafe.Pointer, ldc uintptr, ab *[2]float32, mode tileMode) {
	var c00, c01, c10, c11, c20, c21, c30, c31, c40, c41 archsimd.Float32x8
	var z archsimd.Float32x4
	if n := kc / 4; n > 0 {
		for {
			b00 := archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(b, 0)))
			b01 := archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(b, 32)))
			a00 := z.SetElem(0, *(*float32)(unsafe.Add(a, 0))).Broadcast1To8()
			c00 = a00.MulAdd(b00, c00)
			c01 = a00.MulAdd(b01, c01)
			a01 := z.SetElem(0, *(*float32)(unsafe.Add(a, 4))).Broadcast1To8()
			c10 = a01.MulAdd(b00, c10)
			c11 = a01.MulAdd(b01, c11)
			a02 := z.SetElem(0, *(*float32)(unsafe.Add(a, 8))).Broadcast1To8()
			c20 = a02.MulAdd(b00, c20)
			c21 = a02.MulAdd(b01, c21)
			a03 := z.SetElem(0, *(*float32)(unsafe.Add(a, 12))).Broadcast1To8()
			c30 = a03.MulAdd(b00, c30)
			c31 = a03.MulAdd(b01, c31)
			a04 := z.SetElem(0, *(*float32)(unsafe.Add(a, 16))).Broadcast1To8()
			c40 = b00.MulAdd(a04, c40)
			c41 = b01.MulAdd(a04, c41)
			b10 := archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(b, 64)))
			b11 := archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(b, 96)))
			a10 := z.SetElem(0, *(*float32)(unsafe.Add(a, 20))).Broadcast1To8()
			c00 = a10.MulAdd(b10, c00)
			c01 = a10.MulAdd(b11, c01)
			a11 := z.SetElem(0, *(*float32)(unsafe.Add(a, 24))).Broadcast1To8()
			c10 = a11.MulAdd(b10, c10)
			c11 = a11.MulAdd(b11, c11)
			a12 := z.SetElem(0, *(*float32)(unsafe.Add(a, 28))).Broadcast1To8()
			c20 = a12.MulAdd(b10, c20)
			c21 = a12.MulAdd(b11, c21)
			a13 := z.SetElem(0, *(*float32)(unsafe.Add(a, 32))).Broadcast1To8()
			c30 = a13.MulAdd(b10, c30)
			c31 = a13.MulAdd(b11, c31)
			a14 := z.SetElem(0, *(*float32)(unsafe.Add(a, 36))).Broadcast1To8()
			c40 = b10.MulAdd(a14, c40)
			c41 = b11.MulAdd(a14, c41)
			b20 := archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(b, 128)))
			b21 := archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(b, 160)))
			a20 := z.SetElem(0, *(*float32)(unsafe.Add(a, 40))).Broadcast1To8()
			c00 = a20.MulAdd(b20, c00)
			c01 = a20.MulAdd(b21, c01)
			a21 := z.SetElem(0, *(*float32)(unsafe.Add(a, 44))).Broadcast1To8()
			c10 = a21.MulAdd(b20, c10)
			c11 = a21.MulAdd(b21, c11)
			a22 := z.SetElem(0, *(*float32)(unsafe.Add(a, 48))).Broadcast1To8()
			c20 = a22.MulAdd(b20, c20)
			c21 = a22.MulAdd(b21, c21)
			a23 := z.SetElem(0, *(*float32)(unsafe.Add(a, 52))).Broadcast1To8()
			c30 = a23.MulAdd(b20, c30)
			c31 = a23.MulAdd(b21, c31)
			a24 := z.SetElem(0, *(*float32)(unsafe.Add(a, 56))).Broadcast1To8()
			c40 = b20.MulAdd(a24, c40)
			c41 = b21.MulAdd(a24, c41)
			b30 := archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(b, 192)))
			b31 := archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(b, 224)))
			a30 := z.SetElem(0, *(*float32)(unsafe.Add(a, 60))).Broadcast1To8()
			c00 = a30.MulAdd(b30, c00)
			c01 = a30.MulAdd(b31, c01)
			a31 := z.SetElem(0, *(*float32)(unsafe.Add(a, 64))).Broadcast1To8()
			c10 = a31.MulAdd(b30, c10)
			c11 = a31.MulAdd(b31, c11)
			a32 := z.SetElem(0, *(*float32)(unsafe.Add(a, 68))).Broadcast1To8()
			c20 = a32.MulAdd(b30, c20)
			c21 = a32.MulAdd(b31, c21)
			a33 := z.SetElem(0, *(*float32)(unsafe.Add(a, 72))).Broadcast1To8()
			c30 = a33.MulAdd(b30, c30)
			c31 = a33.MulAdd(b31, c31)
			a34 := z.SetElem(0, *(*float32)(unsafe.Add(a, 76))).Broadcast1To8()
			c40 = b30.MulAdd(a34, c40)
			c41 = b31.MulAdd(a34, c41)
			a, b = unsafe.Add(a, 80), unsafe.Add(b, 256)
			if n--; n == 0 {
				break
			}
		}
	}
	if n := kc % 4; n > 0 {
		for {
			b00 := archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(b, 0)))
			b01 := archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(b, 32)))
			a00 := z.SetElem(0, *(*float32)(unsafe.Add(a, 0))).Broadcast1To8()
			c00 = a00.MulAdd(b00, c00)
			c01 = a00.MulAdd(b01, c01)
			a01 := z.SetElem(0, *(*float32)(unsafe.Add(a, 4))).Broadcast1To8()
			c10 = a01.MulAdd(b00, c10)
			c11 = a01.MulAdd(b01, c11)
			a02 := z.SetElem(0, *(*float32)(unsafe.Add(a, 8))).Broadcast1To8()
			c20 = a02.MulAdd(b00, c20)
			c21 = a02.MulAdd(b01, c21)
			a03 := z.SetElem(0, *(*float32)(unsafe.Add(a, 12))).Broadcast1To8()
			c30 = a03.MulAdd(b00, c30)
			c31 = a03.MulAdd(b01, c31)
			a04 := z.SetElem(0, *(*float32)(unsafe.Add(a, 16))).Broadcast1To8()
			c40 = b00.MulAdd(a04, c40)
			c41 = b01.MulAdd(a04, c41)
			a, b = unsafe.Add(a, 20), unsafe.Add(b, 64)
			if n--; n == 0 {
				break
			}
		}
	}
	// Write the tile into C, one row (ldc bytes) after another.
	av, bv := archsimd.BroadcastFloat32x8(ab[0]), archsimd.BroadcastFloat32x8(ab[1])
	writeRow8(c, c00, c01, av, bv, mode)
	writeRow8(unsafe.Add(c, 1*ldc), c10, c11, av, bv, mode)
	writeRow8(unsafe.Add(c, 2*ldc), c20, c21, av, bv, mode)
	writeRow8(unsafe.Add(c, 3*ldc), c30, c31, av, bv, mode)
	writeRow8(unsafe.Add(c, 4*ldc), c40, c41, av, bv, mode)
	archsimd.ClearAVXUpperBits()
}

// writeRow16 writes one row of a 5×32 tile, x0 and x1, into C at row as
// mode says: C = alpha·x (tileSet), beta·C + alpha·x (tileScale) or
// C + alpha·x (tileAdd), with av and bv holding alpha and beta.
func writeRow16(row unsafe.Pointer, x0, x1, av, bv archsimd.Float32x16, mode tileMode) {
	p0, p1 := (*[16]float32)(row), (*[16]float32)(unsafe.Add(row, 64))
	switch mode {
	case tileSet:
		x0.Mul(av).Store(p0)
		x1.Mul(av).Store(p1)
	case tileScale:
		x0.MulAdd(av, archsimd.LoadFloat32x16(p0).Mul(bv)).Store(p0)
		x1.MulAdd(av, archsimd.LoadFloat32x16(p1).Mul(bv)).Store(p1)
	default:
		x0.MulAdd(av, archsimd.LoadFloat32x16(p0)).Store(p0)
		x1.MulAdd(av, archsimd.LoadFloat32x16(p1)).Store(p1)
	}
}

// writeRow8 is writeRow16 for a row of the 5×16 AVX2 tile.
func writeRow8(row unsafe.Pointer, x0, x1, av, bv archsimd.Float32x8, mode tileMode) {
	p0, p1 := (*[8]float32)(row), (*[8]float32)(unsafe.Add(row, 32))
	switch mode {
	case tileSet:
		x0.Mul(av).Store(p0)
		x1.Mul(av).Store(p1)
	case tileScale:
		x0.MulAdd(av, archsimd.LoadFloat32x8(p0).Mul(bv)).Store(p0)
		x1.MulAdd(av, archsimd.LoadFloat32x8(p1).Mul(bv)).Store(p1)
	default:
		x0.MulAdd(av, archsimd.LoadFloat32x8(p0)).Store(p0)
		x1.MulAdd(av, archsimd.LoadFloat32x8(p1)).Store(p1)
	}
}
