//go:build amd64 && !purego

#include "textflag.h"

// The vector loops of elementwise.go: 8 floats a vector, n a multiple of
// 8, the operations and their order those of the portable loops (no
// fused multiply–adds), so that results match them bit for bit.

// func addAVX2(dst, src *float32, n int)
TEXT ·addAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   adone
	MOVQ CX, BX
	SHRQ $2, BX
	JZ   aone

afour:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VADDPS  (SI), Y0, Y0
	VADDPS  32(SI), Y1, Y1
	VADDPS  64(SI), Y2, Y2
	VADDPS  96(SI), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $128, SI
	DECQ    BX
	JNZ     afour
	ANDQ    $3, CX
	JZ      adone

aone:
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	DECQ    CX
	JNZ     aone

adone:
	VZEROUPPER
	RET

// func mulMulAVX2(dst, a, b, c *float32, n int)
TEXT ·mulMulAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ c+24(FP), R8
	MOVQ n+32(FP), CX
	SHRQ $3, CX
	JZ   mdone

mloop:
	VMOVUPS (SI), Y0
	VMULPS  (DX), Y0, Y0
	VMULPS  (R8), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, R8
	DECQ    CX
	JNZ     mloop

mdone:
	VZEROUPPER
	RET

// func swigluGradAVX2(dg, du, dh, gate, up, sig *float32, n int)
//
// General registers: DI dg, R9 du, SI dh, DX gate, R8 up, R10 sig, CX vectors
// left. Y7 holds 1 in every lane.
TEXT ·swigluGradAVX2(SB), NOSPLIT, $0-56
	MOVQ dg+0(FP), DI
	MOVQ du+8(FP), R9
	MOVQ dh+16(FP), SI
	MOVQ gate+24(FP), DX
	MOVQ up+32(FP), R8
	MOVQ sig+40(FP), R10
	MOVQ n+48(FP), CX
	SHRQ $3, CX
	JZ   gdone
	MOVL $0x3f800000, AX
	MOVQ AX, X7
	VBROADCASTSS X7, Y7

gloop:
	VMOVUPS (SI), Y0      // d
	VMOVUPS (DX), Y1      // g
	VMOVUPS (R10), Y3     // s
	VMULPS  Y1, Y0, Y4    // d·g
	VMULPS  Y3, Y4, Y4    // (d·g)·s
	VMOVUPS Y4, (R9)      // du
	VMULPS  (R8), Y0, Y5  // d·u
	VMULPS  Y3, Y5, Y5    // (d·u)·s
	VSUBPS  Y3, Y7, Y6    // 1 − s
	VMULPS  Y6, Y1, Y6    // g·(1 − s)
	VADDPS  Y7, Y6, Y6    // 1 + g·(1 − s)
	VMULPS  Y6, Y5, Y5
	VMOVUPS Y5, (DI)      // dg
	ADDQ    $32, DI
	ADDQ    $32, R9
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, R8
	ADDQ    $32, R10
	DECQ    CX
	JNZ     gloop

gdone:
	VZEROUPPER
	RET

// func rotatePairsAVX2(a, b, cos, sin *float32, n int, sign float32)
//
// a, b = a·cos − b·s, b·cos + a·s with s = sign·sin (sign ±1: exact).
TEXT ·rotatePairsAVX2(SB), NOSPLIT, $0-44
	MOVQ         a+0(FP), DI
	MOVQ         b+8(FP), SI
	MOVQ         cos+16(FP), DX
	MOVQ         sin+24(FP), R8
	MOVQ         n+32(FP), CX
	VBROADCASTSS sign+40(FP), Y7
	SHRQ         $3, CX
	JZ           rdone

rloop:
	VMOVUPS (DI), Y0     // x1
	VMOVUPS (SI), Y1     // x2
	VMOVUPS (DX), Y2     // cos
	VMULPS  (R8), Y7, Y3 // s
	VMULPS  Y2, Y0, Y4   // x1·cos
	VMULPS  Y3, Y1, Y5   // x2·s
	VSUBPS  Y5, Y4, Y4   // x1·cos − x2·s
	VMULPS  Y2, Y1, Y5   // x2·cos
	VMULPS  Y3, Y0, Y6   // x1·s
	VADDPS  Y6, Y5, Y5   // x2·cos + x1·s
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, (SI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, R8
	DECQ    CX
	JNZ     rloop

rdone:
	VZEROUPPER
	RET

// The sum of the 8 float64 lanes of Y2 and Y3 into the low lane of X2
// (Y3 clobbered): the two accumulators' end, the same order in every call.
#define SUM_Y2_Y3 \
	VADDPD       Y3, Y2, Y2; \
	VEXTRACTF128 $1, Y2, X3; \
	VADDPD       X3, X2, X2; \
	VHADDPD      X2, X2, X2

// func sumSquaresAVX2(x *float32, n int) float64
//
// Two accumulators of 4 doubles: lanes 0–3 and 4–7 of each 8 values.
TEXT ·sumSquaresAVX2(SB), NOSPLIT, $0-24
	MOVQ   x+0(FP), SI
	MOVQ   n+8(FP), CX
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	SHRQ   $3, CX
	JZ     qsum

qloop:
	VCVTPS2PD (SI), Y0
	VCVTPS2PD 16(SI), Y1
	VMULPD    Y0, Y0, Y0
	VMULPD    Y1, Y1, Y1
	VADDPD    Y0, Y2, Y2
	VADDPD    Y1, Y3, Y3
	ADDQ      $32, SI
	DECQ      CX
	JNZ       qloop

qsum:
	SUM_Y2_Y3
	VMOVSD       X2, ret+16(FP)
	VZEROUPPER
	RET

// func dotMulAVX2(a, b, x *float32, n int) float64
TEXT ·dotMulAVX2(SB), NOSPLIT, $0-40
	MOVQ   a+0(FP), DI
	MOVQ   b+8(FP), SI
	MOVQ   x+16(FP), DX
	MOVQ   n+24(FP), CX
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	SHRQ   $3, CX
	JZ     dsum

dloop:
	VMOVUPS      (DI), Y4
	VMULPS       (SI), Y4, Y4 // a·b in float32
	VCVTPS2PD    X4, Y0
	VEXTRACTF128 $1, Y4, X5
	VCVTPS2PD    X5, Y1
	VCVTPS2PD    (DX), Y5
	VCVTPS2PD    16(DX), Y6
	VMULPD       Y5, Y0, Y0
	VMULPD       Y6, Y1, Y1
	VADDPD       Y0, Y2, Y2
	VADDPD       Y1, Y3, Y3
	ADDQ         $32, DI
	ADDQ         $32, SI
	ADDQ         $32, DX
	DECQ         CX
	JNZ          dloop

dsum:
	SUM_Y2_Y3
	VMOVSD       X2, ret+32(FP)
	VZEROUPPER
	RET

// func scaleMulAVX2(dst, w, x *float32, n int, s float32)
TEXT ·scaleMulAVX2(SB), NOSPLIT, $0-36
	MOVQ         dst+0(FP), DI
	MOVQ         w+8(FP), SI
	MOVQ         x+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSS s+32(FP), Y7
	SHRQ         $3, CX
	JZ           sdone

sloop:
	VMULPS  (DX), Y7, Y0 // x·s
	VMULPS  (SI), Y0, Y0 // w·(x·s)
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, DX
	DECQ    CX
	JNZ     sloop

sdone:
	VZEROUPPER
	RET

// func mulSubScaledAVX2(dst, a, b, x *float32, n int, p, q float32)
TEXT ·mulSubScaledAVX2(SB), NOSPLIT, $0-48
	MOVQ         dst+0(FP), DI
	MOVQ         a+8(FP), SI
	MOVQ         b+16(FP), DX
	MOVQ         x+24(FP), R8
	MOVQ         n+32(FP), CX
	VBROADCASTSS p+40(FP), Y6
	VBROADCASTSS q+44(FP), Y7
	SHRQ         $3, CX
	JZ           mdone2

mloop2:
	VMOVUPS (SI), Y0
	VMULPS  (DX), Y0, Y0 // a·b
	VMULPS  Y6, Y0, Y0   // p·(a·b)
	VMULPS  (R8), Y7, Y1 // x·q
	VSUBPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, R8
	DECQ    CX
	JNZ     mloop2

mdone2:
	VZEROUPPER
	RET
