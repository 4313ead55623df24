//go:build arm64 && !purego

#include "textflag.h"

// The NEON micro-kernel of the assembly GEMM backend (see gemm_asm.go and
// gemm_asm_arm64.go). It computes one 8×12 tile
//
//	T = alpha·Σ_p a[p]ᵀ·b[p]
//
// over kc ≥ 1 steps of a packed sliver of A (kc steps of 8 floats) and one
// of B (kc steps of 12 floats), then writes it into C, whose rows are ldc
// bytes apart, as mode says: 0 (asmSet) C = T, without reading C;
// 1 (asmScale) C = fma(beta, C, T); 2 (asmAdd) C = C + T. The accumulators
// start at zero and add the products of each step in order, one fused
// multiply-add per lane, as the amd64 kernels do.
//
// Go's assembler has no by-element forms of FMLA and FMUL nor a vector
// FADD, so those are encoded with WORD (Arm ARM, "Advanced SIMD vector x
// indexed element" and "three same"), for .4S operands:
//
//	FMLA Vd.4S, Vn.4S, Vm.S[i]: Vd += Vn·Vm[i]
//	FMUL Vd.4S, Vn.4S, Vm.S[i]: Vd = Vn·Vm[i]
//	FADD Vd.4S, Vn.4S, Vm.4S:   Vd = Vn + Vm
#define FMLAE(d, n, m, i) WORD $(0x4F801000 | (d) | ((n)<<5) | ((m)<<16) | (((i)&1)<<21) | (((i)>>1)<<11))
#define FMULE(d, n, m, i) WORD $(0x4F809000 | (d) | ((n)<<5) | ((m)<<16) | (((i)&1)<<21) | (((i)>>1)<<11))
#define FADDV(d, n, m) WORD $(0x4E20D400 | (d) | ((n)<<5) | ((m)<<16))

// Row r of the tile (accumulators V(c), V(c+1), V(c+2), c = 3r) times
// lane i of the A register V(a), plus the step's B in V24–V26.
#define ROW(c, a, i) \
	FMLAE(c, 24, a, i); \
	FMLAE(c+1, 25, a, i); \
	FMLAE(c+2, 26, a, i)

// Writes of row r (accumulators V(c)…V(c+2)) to C at R3, then R3 += ldc.
// V27 holds alpha in lane 0 and beta in lane 1; V28–V30 take C's row.
#define SETROW(c) \
	FMULE(c, c, 27, 0); \
	FMULE(c+1, c+1, 27, 0); \
	FMULE(c+2, c+2, 27, 0)

// func gemmMicro8x12NEON(a, b *float32, kc int, c *float32, ldc uintptr, ab *[2]float32, mode asmMode)
//
// General registers: R0 a, R1 b, R2 kc, R3 c, R4 ldc, R5 ab, R6 mode.
// Vector registers: V0–V23 the 8×12 tile (row r in V(3r)…V(3r+2)),
// V24–V26 the current step of B, V28–V29 the current step of A (rows 0–3,
// 4–7), V27 alpha and beta, V28–V30 a row of C when stored.
TEXT ·gemmMicro8x12NEON(SB), NOSPLIT, $0-56
	MOVD a+0(FP), R0
	MOVD b+8(FP), R1
	MOVD kc+16(FP), R2
	MOVD c+24(FP), R3
	MOVD ldc+32(FP), R4
	MOVD ab+40(FP), R5
	MOVD mode+48(FP), R6

	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	VEOR V4.B16, V4.B16, V4.B16
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16
	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	VEOR V13.B16, V13.B16, V13.B16
	VEOR V14.B16, V14.B16, V14.B16
	VEOR V15.B16, V15.B16, V15.B16
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16

neonloop:
	VLD1.P 32(R0), [V28.S4, V29.S4]
	VLD1.P 48(R1), [V24.S4, V25.S4, V26.S4]
	ROW(0, 28, 0)
	ROW(3, 28, 1)
	ROW(6, 28, 2)
	ROW(9, 28, 3)
	ROW(12, 29, 0)
	ROW(15, 29, 1)
	ROW(18, 29, 2)
	ROW(21, 29, 3)
	SUBS $1, R2, R2
	BNE  neonloop

	FMOVD (R5), F27 // V27.S[0] = alpha, V27.S[1] = beta
	SETROW(0)
	SETROW(3)
	SETROW(6)
	SETROW(9)
	SETROW(12)
	SETROW(15)
	SETROW(18)
	SETROW(21)
	CMP  $1, R6
	BEQ  neonscale
	BGT  neonadd

	VST1 [V0.S4, V1.S4, V2.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V3.S4, V4.S4, V5.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V6.S4, V7.S4, V8.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V9.S4, V10.S4, V11.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V12.S4, V13.S4, V14.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V15.S4, V16.S4, V17.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V18.S4, V19.S4, V20.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V21.S4, V22.S4, V23.S4], (R3)
	RET

// C = fma(beta, C, T), row by row.
#define SCALEROW(c) \
	VLD1 (R3), [V28.S4, V29.S4, V30.S4]; \
	FMLAE(c, 28, 27, 1); \
	FMLAE(c+1, 29, 27, 1); \
	FMLAE(c+2, 30, 27, 1)

neonscale:
	SCALEROW(0)
	VST1 [V0.S4, V1.S4, V2.S4], (R3)
	ADD  R4, R3, R3
	SCALEROW(3)
	VST1 [V3.S4, V4.S4, V5.S4], (R3)
	ADD  R4, R3, R3
	SCALEROW(6)
	VST1 [V6.S4, V7.S4, V8.S4], (R3)
	ADD  R4, R3, R3
	SCALEROW(9)
	VST1 [V9.S4, V10.S4, V11.S4], (R3)
	ADD  R4, R3, R3
	SCALEROW(12)
	VST1 [V12.S4, V13.S4, V14.S4], (R3)
	ADD  R4, R3, R3
	SCALEROW(15)
	VST1 [V15.S4, V16.S4, V17.S4], (R3)
	ADD  R4, R3, R3
	SCALEROW(18)
	VST1 [V18.S4, V19.S4, V20.S4], (R3)
	ADD  R4, R3, R3
	SCALEROW(21)
	VST1 [V21.S4, V22.S4, V23.S4], (R3)
	RET

// C = C + T, row by row.
#define ADDROW(c) \
	VLD1 (R3), [V28.S4, V29.S4, V30.S4]; \
	FADDV(c, c, 28); \
	FADDV(c+1, c+1, 29); \
	FADDV(c+2, c+2, 30)

neonadd:
	ADDROW(0)
	VST1 [V0.S4, V1.S4, V2.S4], (R3)
	ADD  R4, R3, R3
	ADDROW(3)
	VST1 [V3.S4, V4.S4, V5.S4], (R3)
	ADD  R4, R3, R3
	ADDROW(6)
	VST1 [V6.S4, V7.S4, V8.S4], (R3)
	ADD  R4, R3, R3
	ADDROW(9)
	VST1 [V9.S4, V10.S4, V11.S4], (R3)
	ADD  R4, R3, R3
	ADDROW(12)
	VST1 [V12.S4, V13.S4, V14.S4], (R3)
	ADD  R4, R3, R3
	ADDROW(15)
	VST1 [V15.S4, V16.S4, V17.S4], (R3)
	ADD  R4, R3, R3
	ADDROW(18)
	VST1 [V18.S4, V19.S4, V20.S4], (R3)
	ADD  R4, R3, R3
	ADDROW(21)
	VST1 [V21.S4, V22.S4, V23.S4], (R3)
	RET
