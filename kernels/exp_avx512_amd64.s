//go:build amd64 && !purego

#include "textflag.h"

// AVX-512F versions of ExpSlice's, Sigmoid's and Max's inner loops for the
// default build, sixteen lanes at a time. Every lane runs exactly the
// instructions of exp_avx2_amd64.s's EXP8 (the same fused multiply-adds in
// the same order), so each result is bit-identical to the AVX2 loop's; the
// loops also stop at the same blocks of eight (an argument above
// expFastMax, or NaN, counted from the start of the call) and the sum is
// accumulated in the same float64 lanes and order, so ExpSlice's sum is
// identical too. Only AVX-512F is used: 256-bit work is VEX-encoded on
// Y0–Y15, the constants sit in Z16–Z31.

DATA expAVX512Consts<>+0(SB)/4, $0x39506967  // p0 = 0.000198756915
DATA expAVX512Consts<>+4(SB)/4, $0x3ab743ce  // p1 = 0.0013981999507
DATA expAVX512Consts<>+8(SB)/4, $0x3c088908  // p2 = 0.0083334519073
DATA expAVX512Consts<>+12(SB)/4, $0x3d2aa9c1 // p3 = 0.041665795894
DATA expAVX512Consts<>+16(SB)/4, $0x3e2aaaaa // p4 = 0.16666665459
DATA expAVX512Consts<>+20(SB)/4, $0x3f000000 // p5 = 0.50000001201
DATA expAVX512Consts<>+24(SB)/4, $0x3f800000 // one = 1.0
DATA expAVX512Consts<>+28(SB)/4, $0x3fb8aa3b // log2e = 1.4426950408889634
DATA expAVX512Consts<>+32(SB)/4, $0x4b400000 // roundup = 12582912.0
DATA expAVX512Consts<>+36(SB)/4, $0x3f318000 // ln2hi = 0.693359375
DATA expAVX512Consts<>+40(SB)/4, $0xb95e8083 // ln2lo = -0.00021219444
DATA expAVX512Consts<>+44(SB)/4, $0xc2aeac50 // minarg = -87.3365447505531
DATA expAVX512Consts<>+48(SB)/4, $0x42b0c0a5 // maxfast = 88.3762626647949
DATA expAVX512Consts<>+52(SB)/4, $127        // exponent bias
DATA expAVX512Consts<>+56(SB)/4, $0xff800000 // -Inf
GLOBL expAVX512Consts<>(SB), RODATA|NOPTR, $60

// LOADCONSTS512 broadcasts the constants EXP16 uses into Z16–Z29.
#define LOADCONSTS512 \
	LEAQ         expAVX512Consts<>(SB), R8 \
	VBROADCASTSS 48(R8), Z16               \
	VBROADCASTSS 44(R8), Z17               \
	VBROADCASTSS 40(R8), Z18               \
	VBROADCASTSS 36(R8), Z19               \
	VBROADCASTSS 32(R8), Z20               \
	VBROADCASTSS 28(R8), Z21               \
	VBROADCASTSS 0(R8), Z22                \
	VBROADCASTSS 4(R8), Z23                \
	VBROADCASTSS 8(R8), Z24                \
	VBROADCASTSS 12(R8), Z25               \
	VBROADCASTSS 16(R8), Z26               \
	VBROADCASTSS 20(R8), Z27               \
	VBROADCASTSS 24(R8), Z28               \
	VPBROADCASTD 52(R8), Z29

// EXP16 sets Z5 = e^Z0 for lanes in [−87.33, expFastMax] and +0 below,
// EXP8's steps lane for lane: K1 marks the lanes at or above −87.33 (the
// complement of EXP8's Y1 for any non-NaN argument); Z2 gets
// fma(x, log2e, 1.5·2^23), Z3 n as a float and Z4 2^n in the exponent
// bits; Z0 becomes r = x − n·ln2hi − n·ln2lo (fused); Z5 = p(r)·r² + r + 1
// (fused), times 2^n, zeroed outside K1. It clobbers Z0–Z4 and Z6.
#define EXP16 \
	VCMPPS       $13, Z17, Z0, K1 \
	VMOVAPS      Z20, Z2          \
	VFMADD231PS  Z21, Z0, Z2      \
	VSUBPS       Z20, Z2, Z3      \
	VPSUBD       Z20, Z2, Z4      \
	VPADDD       Z29, Z4, Z4      \
	VPSLLD       $23, Z4, Z4      \
	VFNMADD231PS Z19, Z3, Z0      \
	VFNMADD231PS Z18, Z3, Z0      \
	VMOVAPS      Z22, Z5          \
	VFMADD213PS  Z23, Z0, Z5      \
	VFMADD213PS  Z24, Z0, Z5      \
	VFMADD213PS  Z25, Z0, Z5      \
	VFMADD213PS  Z26, Z0, Z5      \
	VFMADD213PS  Z27, Z0, Z5      \
	VMULPS       Z0, Z0, Z6       \
	VADDPS       Z28, Z0, Z2      \
	VFMADD213PS  Z2, Z6, Z5       \
	VMULPS.Z     Z4, Z5, K1, Z5

// func expSliceAVX512F(dst, src *float32, n int, shift float32) (sum float64, done int)
// Z7's float64 lanes 0–3 and 4–7 are the AVX2 loop's Y7 and Y8: lane j
// adds element j of each block of eight in turn.
TEXT ·expSliceAVX512F(SB), NOSPLIT, $0-48
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS shift+24(FP), Z30
	LOADCONSTS512
	VPXORQ       Z7, Z7, Z7
	XORQ         BX, BX

exp16Loop:
	LEAQ          16(BX), DX
	CMPQ          DX, CX
	JGT           exp8
	VMOVUPS       (SI)(BX*4), Z0
	VADDPS        Z30, Z0, Z0
	VCMPPS        $6, Z16, Z0, K2 // above expFastMax, or NaN
	KORTESTW      K2, K2
	JNZ           exp8            // the first eight may still be fine
	EXP16
	VMOVUPS       Z5, (DI)(BX*4)
	VCVTPS2PD     Y5, Z6
	VADDPD        Z6, Z7, Z7
	VEXTRACTF64X4 $1, Z5, Y5
	VCVTPS2PD     Y5, Z6
	VADDPD        Z6, Z7, Z7
	MOVQ          DX, BX
	JMP           exp16Loop

	// One block of eight: the tail of 8–15, or the first half of a
	// block of sixteen with an argument the loop does not take. Lanes
	// 8–15 hold shift and are ignored.
exp8:
	LEAQ      8(BX), DX
	CMPQ      DX, CX
	JGT       expDone
	VMOVUPS   (SI)(BX*4), Y0 // zeroes lanes 8–15
	VADDPS    Z30, Z0, Z0
	VCMPPS    $6, Z16, Z0, K2
	KMOVW     K2, AX
	TESTL     $0xff, AX
	JNZ       expDone
	EXP16
	VMOVUPS   Y5, (DI)(BX*4)
	VCVTPS2PD Y5, Z6
	VADDPD    Z6, Z7, Z7
	MOVQ      DX, BX

expDone:
	VEXTRACTF64X4 $1, Z7, Y8
	VADDPD        Y8, Y7, Y7
	VEXTRACTF128  $1, Y7, X8
	VADDPD        X8, X7, X7
	VHADDPD       X7, X7, X7
	VMOVSD        X7, sum+32(FP)
	VZEROUPPER
	MOVQ          BX, done+40(FP)
	RET

// func sigmoidAVX512F(dst, src *float32, n int) (done int)
TEXT ·sigmoidAVX512F(SB), NOSPLIT, $0-32
	MOVQ   dst+0(FP), DI
	MOVQ   src+8(FP), SI
	MOVQ   n+16(FP), CX
	LOADCONSTS512
	VPXORD Z31, Z31, Z31
	XORQ   BX, BX

sig16Loop:
	LEAQ     16(BX), DX
	CMPQ     DX, CX
	JGT      sig8
	VMOVUPS  (SI)(BX*4), Z0
	VSUBPS   Z0, Z31, Z0 // −x
	VCMPPS   $6, Z16, Z0, K2
	KORTESTW K2, K2
	JNZ      sig8
	EXP16
	VADDPS   Z28, Z5, Z5
	VDIVPS   Z5, Z28, Z5 // 1/(1 + e^−x)
	VMOVUPS  Z5, (DI)(BX*4)
	MOVQ     DX, BX
	JMP      sig16Loop

sig8:
	LEAQ    8(BX), DX
	CMPQ    DX, CX
	JGT     sigDone
	VMOVUPS (SI)(BX*4), Y0
	VSUBPS  Z0, Z31, Z0
	VCMPPS  $6, Z16, Z0, K2
	KMOVW   K2, AX
	TESTL   $0xff, AX
	JNZ     sigDone
	EXP16
	VADDPS  Z28, Z5, Z5
	VDIVPS  Z5, Z28, Z5
	VMOVUPS Y5, (DI)(BX*4)
	MOVQ    DX, BX

sigDone:
	VZEROUPPER
	MOVQ BX, done+24(FP)
	RET

// func maxAVX512F(x *float32, n int, lanes *[8]float32) (nan bool)
// n ≥ 8. lanes gets exactly what maxAVX2 stores, the fold of
// VMAXPS(running, next) over the blocks of eight in order: that operation
// keeps the last of the elements equal to the maximum (±0 alike) and is
// associative for blocks in order, so the blocks are split into four runs
// of q = blocks/4, folded two runs to a register (lanes 0–7 and 8–15),
// joined in order, and the remaining blocks folded after them. Lanes
// meeting a NaN are only reported, as maxAVX2's caller returns NaN then.
TEXT ·maxAVX512F(SB), NOSPLIT, $0-25
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	MOVQ         lanes+16(FP), DI
	LEAQ         expAVX512Consts<>(SB), R8
	VBROADCASTSS 56(R8), Z0    // −Inf: VMAXPS(−Inf, v) is v
	VMOVAPS      Z0, Z1
	KXORW        K3, K3, K3
	VXORPS       Y6, Y6, Y6
	SHRQ         $3, CX        // blocks
	MOVQ         CX, R9
	SHRQ         $2, R9
	SHLQ         $5, R9        // bytes in a run
	LEAQ         (SI)(R9*1), R10
	LEAQ         (R10)(R9*1), R11
	LEAQ         (R11)(R9*1), R12
	LEAQ         (R12)(R9*1), R13 // the remaining blocks
	SHLQ         $5, CX
	ADDQ         SI, CX        // end of the blocks
	XORQ         AX, AX
	TESTQ        R9, R9
	JZ           maxJoin

max16Loop:
	VMOVUPS       (SI)(AX*1), Y2
	VINSERTF64X4  $1, (R10)(AX*1), Z2, Z2
	VMOVUPS       (R11)(AX*1), Y3
	VINSERTF64X4  $1, (R12)(AX*1), Z3, Z3
	VCMPPS        $3, Z2, Z2, K1
	VCMPPS        $3, Z3, Z3, K2
	KORW          K1, K3, K3
	KORW          K2, K3, K3
	VMAXPS        Z2, Z0, Z0
	VMAXPS        Z3, Z1, Z1
	ADDQ          $32, AX
	CMPQ          AX, R9
	JLT           max16Loop

maxJoin:
	VEXTRACTF64X4 $1, Z0, Y4
	VMAXPS        Y4, Y0, Y0
	VEXTRACTF64X4 $1, Z1, Y5
	VMAXPS        Y5, Y1, Y1
	VMAXPS        Y1, Y0, Y0

max8Loop:
	CMPQ    R13, CX
	JGE     maxDone
	VMOVUPS (R13), Y2
	VCMPPS  $3, Y2, Y2, Y3
	VORPS   Y3, Y6, Y6
	VMAXPS  Y2, Y0, Y0
	ADDQ    $32, R13
	JMP     max8Loop

maxDone:
	VMOVUPS   Y0, (DI)
	VMOVMSKPS Y6, AX
	KMOVW     K3, BX
	ORL       BX, AX
	VZEROUPPER
	TESTL     AX, AX
	SETNE     nan+24(FP)
	RET
