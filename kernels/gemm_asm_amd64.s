//go:build amd64 && !purego

#include "textflag.h"

// Micro-kernels of the assembly GEMM backend (see gemm_asm.go and
// gemm_asm_amd64.go). Each computes one mr×nr tile
//
//	T = alpha·Σ_p a[p]ᵀ·b[p]
//
// over kc ≥ 1 steps of a packed sliver of A (kc steps of mr floats, or with
// asmRowsA (4) added to mode mr rows a fixed stride apart: the kernel's kc,
// baked in here; or, AVX-512 only, with asmDirectA (8) the rows of a
// row-major A in place, 8(ab) bytes apart) and one of B (kc steps of nr
// floats; or, AVX-512 only, with asmDirectB (16) the rows of a row-major B
// in place, 16(ab) bytes apart), then writes it into
// C, whose rows are ldc bytes apart, as mode says: 0 (asmSet) C = T,
// without reading C; 1 (asmScale) C = fma(beta, C, T); 2 (asmAdd)
// C = C + T. The accumulators
// start at zero and add the products of each step in order, one FMA per
// lane, so every element sees the same operations in every tile.
//
// Arguments: a+0, b+8, kc+16, c+24, ldc+32, ab+40 (→ alpha, beta), mode+48.
// General registers: SI a, DI b, CX kc, BX steps of the unrolled loop,
// DX c, R8 ldc, R9 ab, R10 mode, R11 rows of C to prefetch.

// One step of k of the 6×16 kernel at byte offsets ao into A and bo into B:
// Y12, Y13 hold the step's 16 values of B, Y14 and Y15 take turns holding
// a broadcast value of A, and row r of the tile accumulates in Y(2r) (columns
// 0–7) and Y(2r+1) (columns 8–15).
#define AVX2_ROW(ao, t, c0, c1) \
	VBROADCASTSS ao(SI), t; \
	VFMADD231PS  Y12, t, c0; \
	VFMADD231PS  Y13, t, c1

#define AVX2_STEP(ao, bo) \
	VMOVUPS bo(DI), Y12; \
	VMOVUPS bo+32(DI), Y13; \
	AVX2_ROW(ao, Y14, Y0, Y1); \
	AVX2_ROW(ao+4, Y15, Y2, Y3); \
	AVX2_ROW(ao+8, Y14, Y4, Y5); \
	AVX2_ROW(ao+12, Y15, Y6, Y7); \
	AVX2_ROW(ao+16, Y14, Y8, Y9); \
	AVX2_ROW(ao+20, Y15, Y10, Y11)

// One step of k of the 6×16 kernel reading A packed as rows (mode has
// asmRowsA): row r of the sliver is 1024 bytes (the kernel's kc, 256 floats) after
// row r−1, and ao is the step's offset within a row.
#define AVX2_STEPR(ao, bo) \
	VMOVUPS bo(DI), Y12; \
	VMOVUPS bo+32(DI), Y13; \
	AVX2_ROW(ao, Y14, Y0, Y1); \
	AVX2_ROW(ao+1024, Y15, Y2, Y3); \
	AVX2_ROW(ao+2048, Y14, Y4, Y5); \
	AVX2_ROW(ao+3072, Y15, Y6, Y7); \
	AVX2_ROW(ao+4096, Y14, Y8, Y9); \
	AVX2_ROW(ao+5120, Y15, Y10, Y11)

// Writes of one row (two vectors) of the tile to C at DX, then DX += ldc.
#define AVX2_SET(c0, c1) \
	VMOVUPS c0, (DX); \
	VMOVUPS c1, 32(DX); \
	ADDQ    R8, DX

#define AVX2_SCALE(c0, c1) \
	VFMADD231PS (DX), Y13, c0; \
	VFMADD231PS 32(DX), Y13, c1; \
	AVX2_SET(c0, c1)

#define AVX2_ADD(c0, c1) \
	VADDPS (DX), c0, c0; \
	VADDPS 32(DX), c1, c1; \
	AVX2_SET(c0, c1)

// Prefetch of one row of the tile of C at R11 (64 bytes, on at most two
// cache lines), then R11 += ldc.
#define AVX2_PREFETCH \
	PREFETCHT0 (R11); \
	PREFETCHT0 63(R11); \
	ADDQ       R8, R11

// func gemmMicro6x16AVX2(a, b *float32, kc int, c *float32, ldc uintptr, ab *[2]float32, mode asmMode)
//
// Vector registers: Y0–Y11 the 6×16 tile (row r in Y(2r), Y(2r+1)),
// Y12–Y13 the current step of B (then alpha and beta), Y14–Y15 broadcasts
// of A. The loop (one for each layout of A) runs four steps at a time,
// then the remaining kc mod 4.
TEXT ·gemmMicro6x16AVX2(SB), NOSPLIT, $0-56
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ kc+16(FP), CX
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	MOVQ ab+40(FP), R9
	MOVQ mode+48(FP), R10

	// Ask for the tile of C now, so that its misses overlap the loop.
	MOVQ DX, R11
	AVX2_PREFETCH
	AVX2_PREFETCH
	AVX2_PREFETCH
	AVX2_PREFETCH
	AVX2_PREFETCH
	AVX2_PREFETCH

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	MOVQ    CX, BX
	SHRQ    $2, BX
	BTRQ    $2, R10 // asmRowsA: A packed as rows
	JCS     avx2rows
	TESTQ   BX, BX
	JZ      avx2tail

avx2loop4:
	AVX2_STEP(0, 0)
	AVX2_STEP(24, 64)
	AVX2_STEP(48, 128)
	AVX2_STEP(72, 192)
	ADDQ $96, SI
	ADDQ $256, DI
	DECQ BX
	JNZ  avx2loop4

avx2tail:
	ANDQ $3, CX
	JZ   avx2store

avx2loop1:
	AVX2_STEP(0, 0)
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  avx2loop1

	JMP avx2store

avx2rows:
	TESTQ BX, BX
	JZ    avx2rtail

avx2rloop4:
	AVX2_STEPR(0, 0)
	AVX2_STEPR(4, 64)
	AVX2_STEPR(8, 128)
	AVX2_STEPR(12, 192)
	ADDQ $16, SI
	ADDQ $256, DI
	DECQ BX
	JNZ  avx2rloop4

avx2rtail:
	ANDQ $3, CX
	JZ   avx2store

avx2rloop1:
	AVX2_STEPR(0, 0)
	ADDQ $4, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  avx2rloop1

avx2store:
	VBROADCASTSS 4(R9), Y13   // beta
	CMPL         (R9), $0x3f800000 // alpha = 1: the tile is T already
	JEQ          avx2mode
	VBROADCASTSS (R9), Y12    // alpha
	VMULPS       Y12, Y0, Y0
	VMULPS       Y12, Y1, Y1
	VMULPS       Y12, Y2, Y2
	VMULPS       Y12, Y3, Y3
	VMULPS       Y12, Y4, Y4
	VMULPS       Y12, Y5, Y5
	VMULPS       Y12, Y6, Y6
	VMULPS       Y12, Y7, Y7
	VMULPS       Y12, Y8, Y8
	VMULPS       Y12, Y9, Y9
	VMULPS       Y12, Y10, Y10
	VMULPS       Y12, Y11, Y11

avx2mode:
	CMPQ R10, $1
	JEQ          avx2scale
	JGT          avx2add
	AVX2_SET(Y0, Y1)
	AVX2_SET(Y2, Y3)
	AVX2_SET(Y4, Y5)
	AVX2_SET(Y6, Y7)
	AVX2_SET(Y8, Y9)
	AVX2_SET(Y10, Y11)
	VZEROUPPER
	RET

avx2scale:
	AVX2_SCALE(Y0, Y1)
	AVX2_SCALE(Y2, Y3)
	AVX2_SCALE(Y4, Y5)
	AVX2_SCALE(Y6, Y7)
	AVX2_SCALE(Y8, Y9)
	AVX2_SCALE(Y10, Y11)
	VZEROUPPER
	RET

avx2add:
	AVX2_ADD(Y0, Y1)
	AVX2_ADD(Y2, Y3)
	AVX2_ADD(Y4, Y5)
	AVX2_ADD(Y6, Y7)
	AVX2_ADD(Y8, Y9)
	AVX2_ADD(Y10, Y11)
	VZEROUPPER
	RET

// One step of k of the 14×32 kernel at byte offset ao into A, the step's
// 32 values of B at b0 and b1: Z28, Z29 hold them, Z30 and Z31 take turns
// holding a broadcast value of A, and row r of the tile accumulates in
// Z(2r) (columns 0–15) and Z(2r+1) (columns 16–31).
#define AVX512_ROW(ao, t, c0, c1) \
	VBROADCASTSS ao(SI), t; \
	VFMADD231PS  Z28, t, c0; \
	VFMADD231PS  Z29, t, c1

// One step of k of the 14×32 kernel with A's rows rs bytes apart and the
// step at byte offset ao into row 0: packed A (AVX512_STEP, rs 4), or
// packed as rows (mode has asmRowsA; AVX512_STEPR: row r of the sliver
// 2304 bytes, the kernel's kc of 576 floats, after row r−1).
#define AVX512_STEPS(ao, rs, b0, b1) \
	VMOVUPS b0, Z28; \
	VMOVUPS b1, Z29; \
	AVX512_ROW(ao, Z30, Z0, Z1); \
	AVX512_ROW(ao+rs, Z31, Z2, Z3); \
	AVX512_ROW(ao+2*rs, Z30, Z4, Z5); \
	AVX512_ROW(ao+3*rs, Z31, Z6, Z7); \
	AVX512_ROW(ao+4*rs, Z30, Z8, Z9); \
	AVX512_ROW(ao+5*rs, Z31, Z10, Z11); \
	AVX512_ROW(ao+6*rs, Z30, Z12, Z13); \
	AVX512_ROW(ao+7*rs, Z31, Z14, Z15); \
	AVX512_ROW(ao+8*rs, Z30, Z16, Z17); \
	AVX512_ROW(ao+9*rs, Z31, Z18, Z19); \
	AVX512_ROW(ao+10*rs, Z30, Z20, Z21); \
	AVX512_ROW(ao+11*rs, Z31, Z22, Z23); \
	AVX512_ROW(ao+12*rs, Z30, Z24, Z25); \
	AVX512_ROW(ao+13*rs, Z31, Z26, Z27)

#define AVX512_STEP(ao, b0, b1) AVX512_STEPS(ao, 4, b0, b1)
#define AVX512_STEPR(ao, b0, b1) AVX512_STEPS(ao, 2304, b0, b1)

#define AVX512_SET(c0, c1) \
	VMOVUPS c0, (DX); \
	VMOVUPS c1, 64(DX); \
	ADDQ    R8, DX

#define AVX512_SCALE(c0, c1) \
	VFMADD231PS (DX), Z29, c0; \
	VFMADD231PS 64(DX), Z29, c1; \
	AVX512_SET(c0, c1)

#define AVX512_ADD(c0, c1) \
	VADDPS (DX), c0, c0; \
	VADDPS 64(DX), c1, c1; \
	AVX512_SET(c0, c1)

#define AVX512_ALL(op) \
	op(Z0, Z1); \
	op(Z2, Z3); \
	op(Z4, Z5); \
	op(Z6, Z7); \
	op(Z8, Z9); \
	op(Z10, Z11); \
	op(Z12, Z13); \
	op(Z14, Z15); \
	op(Z16, Z17); \
	op(Z18, Z19); \
	op(Z20, Z21); \
	op(Z22, Z23); \
	op(Z24, Z25); \
	op(Z26, Z27)

#define AVX512_ZERO(c0, c1) \
	VPXORD c0, c0, c0; \
	VPXORD c1, c1, c1

// One step of k of the 14×32 kernel reading A in place (mode has
// asmDirectA): row r of the sliver is r·lda bytes after row 0, reached as
// SI, SI+lda, SI+2lda, SI+3lda, SI+4lda, then the same from R12 = SI+5lda
// and R13 = SI+10lda (AX lda, R11 3lda), and ao is the step's offset within
// a row.
#define AVX512_ROWM(mem, t, c0, c1) \
	VBROADCASTSS mem, t; \
	VFMADD231PS  Z28, t, c0; \
	VFMADD231PS  Z29, t, c1

#define AVX512_STEPD(ao, b0, b1) \
	VMOVUPS b0, Z28; \
	VMOVUPS b1, Z29; \
	AVX512_ROWM(ao(SI), Z30, Z0, Z1); \
	AVX512_ROWM(ao(SI)(AX*1), Z31, Z2, Z3); \
	AVX512_ROWM(ao(SI)(AX*2), Z30, Z4, Z5); \
	AVX512_ROWM(ao(SI)(R11*1), Z31, Z6, Z7); \
	AVX512_ROWM(ao(SI)(AX*4), Z30, Z8, Z9); \
	AVX512_ROWM(ao(R12), Z31, Z10, Z11); \
	AVX512_ROWM(ao(R12)(AX*1), Z30, Z12, Z13); \
	AVX512_ROWM(ao(R12)(AX*2), Z31, Z14, Z15); \
	AVX512_ROWM(ao(R12)(R11*1), Z30, Z16, Z17); \
	AVX512_ROWM(ao(R12)(AX*4), Z31, Z18, Z19); \
	AVX512_ROWM(ao(R13), Z30, Z20, Z21); \
	AVX512_ROWM(ao(R13)(AX*1), Z31, Z22, Z23); \
	AVX512_ROWM(ao(R13)(AX*2), Z30, Z24, Z25); \
	AVX512_ROWM(ao(R13)(R11*1), Z31, Z26, Z27)

// Prefetch of one row of the tile of C at R11 (128 bytes, on at most
// three cache lines), then R11 += ldc; c0 and c1 are unused.
#define AVX512_PREFETCH(c0, c1) \
	PREFETCHT0 (R11); \
	PREFETCHT0 64(R11); \
	PREFETCHT0 127(R11); \
	ADDQ       R8, R11

#define AVX512_ALPHA(c0, c1) \
	VMULPS Z28, c0, c0; \
	VMULPS Z28, c1, c1

// func gemmMicro14x32AVX512(a, b *float32, kc int, c *float32, ldc uintptr, ab *[2]float32, mode asmMode)
//
// Vector registers: Z0–Z27 the 14×32 tile (row r in Z(2r), Z(2r+1)),
// Z28–Z29 the current step of B (then alpha and beta), Z30–Z31 broadcasts
// of A. The loop (one for each layout of A; B's step, packed or in place,
// in R14) runs four steps at a time, then the remaining kc mod 4. (A
// register step for packed B as well measured the same as immediate
// offsets: 512×576×576 with B transposed 195.8–200.0 against 195.7–198.3
// GFLOP/s, the head's 128×49152×576 163.4–168.6 against 163.5–168.3.)
TEXT ·gemmMicro14x32AVX512(SB), NOSPLIT, $0-56
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ kc+16(FP), CX
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	MOVQ ab+40(FP), R9
	MOVQ mode+48(FP), R10

	// Ask for the tile of C now, so that its misses overlap the loop.
	MOVQ DX, R11
	AVX512_ALL(AVX512_PREFETCH)
	AVX512_ALL(AVX512_ZERO)

	MOVQ  CX, BX
	SHRQ  $2, BX
	// Step p of the sliver of B is at DI + p·R14, R15 = 3·R14: packed, nr
	// floats apart; in place (asmDirectB), B's rows 16(R9) bytes apart.
	MOVQ  $128, R14
	BTRQ  $4, R10
	JCC   avx512bpacked
	MOVQ  16(R9), R14

avx512bpacked:
	LEAQ  (R14)(R14*2), R15
	BTRQ  $3, R10 // asmDirectA: A read in place, rows 8(R9) bytes apart
	JCS   avx512direct
	BTRQ  $2, R10 // asmRowsA: A packed as rows
	JCS   avx512rows
	TESTQ BX, BX
	JZ    avx512tail

avx512loop4:
	AVX512_STEP(0, (DI), 64(DI))
	AVX512_STEP(56, (DI)(R14*1), 64(DI)(R14*1))
	AVX512_STEP(112, (DI)(R14*2), 64(DI)(R14*2))
	AVX512_STEP(168, (DI)(R15*1), 64(DI)(R15*1))
	ADDQ $224, SI
	LEAQ (DI)(R14*4), DI
	DECQ BX
	JNZ  avx512loop4

avx512tail:
	ANDQ $3, CX
	JZ   avx512store

avx512loop1:
	AVX512_STEP(0, (DI), 64(DI))
	ADDQ $56, SI
	ADDQ R14, DI
	DECQ CX
	JNZ  avx512loop1
	JMP  avx512store

avx512rows:
	TESTQ BX, BX
	JZ    avx512rtail

avx512rloop4:
	AVX512_STEPR(0, (DI), 64(DI))
	AVX512_STEPR(4, (DI)(R14*1), 64(DI)(R14*1))
	AVX512_STEPR(8, (DI)(R14*2), 64(DI)(R14*2))
	AVX512_STEPR(12, (DI)(R15*1), 64(DI)(R15*1))
	ADDQ $16, SI
	LEAQ (DI)(R14*4), DI
	DECQ BX
	JNZ  avx512rloop4

avx512rtail:
	ANDQ $3, CX
	JZ   avx512store

avx512rloop1:
	AVX512_STEPR(0, (DI), 64(DI))
	ADDQ $4, SI
	ADDQ R14, DI
	DECQ CX
	JNZ  avx512rloop1
	JMP  avx512store

avx512direct:
	MOVQ  8(R9), AX           // lda in bytes
	LEAQ  (AX)(AX*2), R11     // 3·lda
	LEAQ  (SI)(AX*4), R12
	ADDQ  AX, R12             // row 5
	LEAQ  (R12)(AX*4), R13
	ADDQ  AX, R13             // row 10
	TESTQ BX, BX
	JZ    avx512dtail

avx512dloop4:
	AVX512_STEPD(0, (DI), 64(DI))
	AVX512_STEPD(4, (DI)(R14*1), 64(DI)(R14*1))
	AVX512_STEPD(8, (DI)(R14*2), 64(DI)(R14*2))
	AVX512_STEPD(12, (DI)(R15*1), 64(DI)(R15*1))
	ADDQ $16, SI
	ADDQ $16, R12
	ADDQ $16, R13
	LEAQ (DI)(R14*4), DI
	DECQ BX
	JNZ  avx512dloop4

avx512dtail:
	ANDQ $3, CX
	JZ   avx512store

avx512dloop1:
	AVX512_STEPD(0, (DI), 64(DI))
	ADDQ $4, SI
	ADDQ $4, R12
	ADDQ $4, R13
	ADDQ R14, DI
	DECQ CX
	JNZ  avx512dloop1

avx512store:
	VBROADCASTSS 4(R9), Z29   // beta
	CMPL         (R9), $0x3f800000 // alpha = 1: the tile is T already
	JEQ          avx512mode
	VBROADCASTSS (R9), Z28    // alpha
	AVX512_ALL(AVX512_ALPHA)

avx512mode:
	CMPQ R10, $1
	JEQ          avx512scale
	JGT          avx512add
	AVX512_ALL(AVX512_SET)
	VZEROUPPER
	RET

avx512scale:
	AVX512_ALL(AVX512_SCALE)
	VZEROUPPER
	RET

avx512add:
	AVX512_ALL(AVX512_ADD)
	VZEROUPPER
	RET

// func transpose8x8AVX(dst *float32, ldd uintptr, src *float32, lds uintptr, blocks int)
//
// Writes the transposes of blocks 8×8 blocks of floats lying side by side
// at src (rows lds bytes apart; block b at src + 32b) one under another at
// dst (rows ldd bytes apart; block b at dst + 8b·ldd): dst row 8b+t, column
// r = src row r, column 8b+t. Packing uses it for a transposed operand's
// gathers, a whole sliver a call. General registers: DI dst, DX ldd, SI
// src, BX lds, CX blocks left, R8 3·ldd, R9 3·lds, R10 the fifth row.
// Vector registers: Y0–Y7 the rows read (later the 4-wide shuffles),
// Y8–Y15 the pairwise unpacks (later the rows written).
TEXT ·transpose8x8AVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), BX
	MOVQ blocks+32(FP), CX
	TESTQ CX, CX
	JLE   tdone
	LEAQ  (DX)(DX*2), R8 // 3·ldd
	LEAQ  (BX)(BX*2), R9 // 3·lds

tloop:
	// Rows a…h of the block at SI: a, b, c, d at SI, SI+lds, …; e…h at R10.
	// Each row 512 bytes ahead asked for now: a frozen weight comes from
	// memory, not cache (512×576×576 with B transposed, the weight one of
	// 64 in turn: 187–192 → 190–196 GFLOP/s, one Zen 5 core, alternating).
	LEAQ       (SI)(BX*4), R10
	PREFETCHT0 512(SI)
	PREFETCHT0 512(SI)(BX*1)
	PREFETCHT0 512(SI)(BX*2)
	PREFETCHT0 512(SI)(R9*1)
	PREFETCHT0 512(R10)
	PREFETCHT0 512(R10)(BX*1)
	PREFETCHT0 512(R10)(BX*2)
	PREFETCHT0 512(R10)(R9*1)
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(BX*1), Y1
	VMOVUPS (SI)(BX*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VMOVUPS (R10), Y4
	VMOVUPS (R10)(BX*1), Y5
	VMOVUPS (R10)(BX*2), Y6
	VMOVUPS (R10)(R9*1), Y7

	// Y8 = a0 b0 a1 b1 | a4 b4 a5 b5, Y9 = a2 b2 a3 b3 | a6 b6 a7 b7, …
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15

	// Y0 = a0 b0 c0 d0 | a4 b4 c4 d4, Y1 = a1 b1 c1 d1 | a5 …, …
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7

	// Column t of the block: low halves for t < 4, high halves after.
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15

	LEAQ    (DI)(DX*4), R10
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(DX*1)
	VMOVUPS Y10, (DI)(DX*2)
	VMOVUPS Y11, (DI)(R8*1)
	VMOVUPS Y12, (R10)
	VMOVUPS Y13, (R10)(DX*1)
	VMOVUPS Y14, (R10)(DX*2)
	VMOVUPS Y15, (R10)(R8*1)

	// The next block: 8 columns on in src, 8 rows down in dst.
	ADDQ $32, SI
	LEAQ (R10)(DX*4), DI
	DECQ CX
	JNZ  tloop

tdone:
	VZEROUPPER
	RET

// func copyRows8AVX(dst *float32, src *float32, lds uintptr, rows, width8 int)
//
// Copies rows rows of width8 vectors of 8 floats, lds bytes apart at src,
// to consecutive rows at dst: a sliver of a row-major B. Widths 4 and 2
// (the AVX-512 and AVX2 kernels' nr of 32 and 16) are unrolled.
TEXT ·copyRows8AVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), BX
	MOVQ rows+24(FP), CX
	MOVQ width8+32(FP), DX
	TESTQ CX, CX
	JLE   cdone
	CMPQ  DX, $4
	JEQ   c32
	CMPQ  DX, $2
	JEQ   c16

cgeneric:
	// Any width: width8 vectors a row.
	MOVQ DX, R8
	MOVQ SI, R9

cinner:
	VMOVUPS (R9), Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, R9
	ADDQ    $32, DI
	DECQ    R8
	JNZ     cinner
	ADDQ    BX, SI
	DECQ    CX
	JNZ     cgeneric
	JMP     cdone

c32:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    BX, SI
	ADDQ    $128, DI
	DECQ    CX
	JNZ     c32
	JMP     cdone

c16:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    BX, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     c16

cdone:
	VZEROUPPER
	RET

// func copyRowsShortAVX(dst *float32, src *float32, lds uintptr, rows, width int)
//
// Copies rows rows of width floats (4 ≤ width ≤ 16), lds bytes apart at
// src, to consecutive rows at dst (width·4 bytes apart): the steps of a
// transposed A's sliver. Each row is two vectors that may overlap, the
// first width's head and the second its tail, so that no store reaches
// past the row. General registers: DI dst, SI src, BX lds, CX rows, DX
// width·4, R8 the tail's offset.
TEXT ·copyRowsShortAVX(SB), NOSPLIT, $0-40
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  lds+16(FP), BX
	MOVQ  rows+24(FP), CX
	MOVQ  width+32(FP), DX
	SHLQ  $2, DX
	TESTQ CX, CX
	JLE   sdone
	CMPQ  DX, $32
	JLT   s4

	LEAQ -32(DX), R8

s8:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, (DI)(R8*1)
	ADDQ    BX, SI
	ADDQ    DX, DI
	DECQ    CX
	JNZ     s8
	JMP     sdone

s4:
	LEAQ -16(DX), R8

s4loop:
	VMOVUPS (SI), X0
	VMOVUPS (SI)(R8*1), X1
	VMOVUPS X0, (DI)
	VMOVUPS X1, (DI)(R8*1)
	ADDQ    BX, SI
	ADDQ    DX, DI
	DECQ    CX
	JNZ     s4loop

sdone:
	VZEROUPPER
	RET

// The short kernel: the AVX-512 kernel's rows for a sliver of A with
// fewer than its 14 rows (the ragged last sliver of a product), so that
// those rows cost their own FMAs rather than a whole tile's. It computes
// height (8 or 4) rows of 32 columns and writes the first rows rows
// (1 ≤ rows ≤ height) into C. Row r of A's sliver is at a + r·aRow and step p at
// a + p·aStep, which covers both packed layouts (aRow 4, aStep 56: steps
// of 14 values; aRow kc·4, aStep 4: rows). Each element sees the same
// operations as in the 14×32 kernel.
//
// Arguments: a+0, b+8, kc+16, c+24, ldc+32, ab+40, mode+48 (0, 1 or 2),
// rows+56, aRow+64, aStep+72, bStep+80 (step p of B at b + p·bStep: 128
// packed, B's row stride in place), height+88. General registers: SI a, DI b, CX kc,
// DX c, R8 ldc, R9 ab, R10 mode, R13 rows left to write, AX aRow, BX aStep,
// R14 bStep, R11 3·aRow, R12 a + 5·aRow. Vector registers: Z0–Z15 the tile (row r in
// Z(2r), Z(2r+1)), Z28–Z29 the step of B (then alpha and beta), Z30–Z31
// broadcasts.

// One row of the tile written into C as mode says, then DX += ldc; done
// once rows rows are written.
#define SHORT_SET(c0, c1, done) \
	VMOVUPS c0, (DX); \
	VMOVUPS c1, 64(DX); \
	ADDQ    R8, DX; \
	DECQ    R13; \
	JZ      done

// op on the first 4 or 8 rows of the tile, in order (op ends the writes
// at done once rows rows are written).
#define SHORT4_ROWS(op, done) \
	op(Z0, Z1, done); \
	op(Z2, Z3, done); \
	op(Z4, Z5, done); \
	op(Z6, Z7, done)

#define SHORT8_ROWS(op, done) \
	SHORT4_ROWS(op, done); \
	op(Z8, Z9, done); \
	op(Z10, Z11, done); \
	op(Z12, Z13, done); \
	op(Z14, Z15, done)

// alpha times one row of the tile, and one row of zeros (done unused).
#define SHORT_ZERO(c0, c1, done) AVX512_ZERO(c0, c1)

#define SHORT_ALPHA(c0, c1, done) AVX512_ALPHA(c0, c1)

#define SHORT_SCALE(c0, c1, done) \
	VFMADD231PS (DX), Z29, c0; \
	VFMADD231PS 64(DX), Z29, c1; \
	SHORT_SET(c0, c1, done)

#define SHORT_ADD(c0, c1, done) \
	VADDPS (DX), c0, c0; \
	VADDPS 64(DX), c1, c1; \
	SHORT_SET(c0, c1, done)

// func gemmMicroShortAVX512(a, b *float32, kc int, c *float32, ldc uintptr, ab *[2]float32, mode asmMode, rows int, aRow, aStep, bStep uintptr, height int)
//
// height (4 or 8) picks the loop: 4 rows in Z0–Z7 or 8 in Z0–Z15. The
// writes are shared: rows ≤ height rows, in order, the rest of Z0–Z15
// zeros for a height of 4.
TEXT ·gemmMicroShortAVX512(SB), NOSPLIT, $0-96
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ kc+16(FP), CX
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	MOVQ ab+40(FP), R9
	MOVQ mode+48(FP), R10
	MOVQ rows+56(FP), R13
	MOVQ aRow+64(FP), AX
	MOVQ aStep+72(FP), BX
	MOVQ bStep+80(FP), R14
	LEAQ (AX)(AX*2), R11
	SHORT8_ROWS(SHORT_ZERO, sdone)
	CMPQ height+88(FP), $4
	JEQ  s4loop
	LEAQ (SI)(AX*4), R12
	ADDQ AX, R12 // row 5

s8loop:
	VMOVUPS (DI), Z28
	VMOVUPS 64(DI), Z29
	AVX512_ROWM((SI), Z30, Z0, Z1)
	AVX512_ROWM((SI)(AX*1), Z31, Z2, Z3)
	AVX512_ROWM((SI)(AX*2), Z30, Z4, Z5)
	AVX512_ROWM((SI)(R11*1), Z31, Z6, Z7)
	AVX512_ROWM((SI)(AX*4), Z30, Z8, Z9)
	AVX512_ROWM((R12), Z31, Z10, Z11)
	AVX512_ROWM((R12)(AX*1), Z30, Z12, Z13)
	AVX512_ROWM((R12)(AX*2), Z31, Z14, Z15)
	ADDQ BX, SI
	ADDQ BX, R12
	ADDQ R14, DI
	DECQ CX
	JNZ  s8loop
	JMP  sstore

s4loop:
	VMOVUPS (DI), Z28
	VMOVUPS 64(DI), Z29
	AVX512_ROWM((SI), Z30, Z0, Z1)
	AVX512_ROWM((SI)(AX*1), Z31, Z2, Z3)
	AVX512_ROWM((SI)(AX*2), Z30, Z4, Z5)
	AVX512_ROWM((SI)(R11*1), Z31, Z6, Z7)
	ADDQ BX, SI
	ADDQ R14, DI
	DECQ CX
	JNZ  s4loop

sstore:
	VBROADCASTSS 4(R9), Z29        // beta
	CMPL         (R9), $0x3f800000 // alpha = 1: the tile is T already
	JEQ          smode
	VBROADCASTSS (R9), Z28         // alpha
	SHORT8_ROWS(SHORT_ALPHA, sdone)

smode:
	CMPQ R10, $1
	JEQ  sscale
	JGT  sadd
	SHORT8_ROWS(SHORT_SET, sdone)
	JMP sdone

sscale:
	SHORT8_ROWS(SHORT_SCALE, sdone)
	JMP sdone

sadd:
	SHORT8_ROWS(SHORT_ADD, sdone)

sdone:
	VZEROUPPER
	RET
