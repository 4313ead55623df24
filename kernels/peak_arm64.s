//go:build arm64 && !purego

#include "textflag.h"

// func peakLoopNEON(n int, seed *[12][16]float32) float32
// V0–V11: the chains (the first 4 lanes of each seed row, 64 bytes
// apart); V12 = 0, V13 = 0.001
// in every lane; R0 counts the iterations down.
TEXT ·peakLoopNEON(SB), NOSPLIT, $0-20
	MOVD n+0(FP), R0
	MOVD seed+8(FP), R1
	FMOVQ 0(R1), F0
	FMOVQ 64(R1), F1
	FMOVQ 128(R1), F2
	FMOVQ 192(R1), F3
	FMOVQ 256(R1), F4
	FMOVQ 320(R1), F5
	FMOVQ 384(R1), F6
	FMOVQ 448(R1), F7
	FMOVQ 512(R1), F8
	FMOVQ 576(R1), F9
	FMOVQ 640(R1), F10
	FMOVQ 704(R1), F11
	VEOR V12.B16, V12.B16, V12.B16
	FMOVS $0.001, F13
	VDUP V13.S[0], V13.S4
	CMP $0, R0
	BLE done

loop:
	VFMLA V13.S4, V12.S4, V0.S4
	VFMLA V13.S4, V12.S4, V1.S4
	VFMLA V13.S4, V12.S4, V2.S4
	VFMLA V13.S4, V12.S4, V3.S4
	VFMLA V13.S4, V12.S4, V4.S4
	VFMLA V13.S4, V12.S4, V5.S4
	VFMLA V13.S4, V12.S4, V6.S4
	VFMLA V13.S4, V12.S4, V7.S4
	VFMLA V13.S4, V12.S4, V8.S4
	VFMLA V13.S4, V12.S4, V9.S4
	VFMLA V13.S4, V12.S4, V10.S4
	VFMLA V13.S4, V12.S4, V11.S4
	SUBS $1, R0, R0
	BNE loop

done:
	// Lane 0 of every chain, summed (F0–F11 are those registers' low lanes).
	FADDS F1, F0, F0
	FADDS F2, F0, F0
	FADDS F3, F0, F0
	FADDS F4, F0, F0
	FADDS F5, F0, F0
	FADDS F6, F0, F0
	FADDS F7, F0, F0
	FADDS F8, F0, F0
	FADDS F9, F0, F0
	FADDS F10, F0, F0
	FADDS F11, F0, F0
	FMOVS F0, ret+16(FP)
	RET
