//go:build amd64 && !purego

#include "textflag.h"

// AVX2+FMA versions of ExpSlice's, Sigmoid's and Max's inner loops, for
// the default build (and CPUs without AVX-512 in the SIMD build): the
// Cody–Waite reduction and degree-6 polynomial of expCore, eight lanes at
// a time. A block of eight whose argument exceeds expFastMax or is NaN
// stops the loop (the caller's scalar path handles it); arguments below
// −87.33 give 0, as Exp's do.

DATA expAVX2Consts<>+0(SB)/4, $0x39506967 // p0 = 0.000198756915
DATA expAVX2Consts<>+4(SB)/4, $0x39506967 // p0 = 0.000198756915
DATA expAVX2Consts<>+8(SB)/4, $0x39506967 // p0 = 0.000198756915
DATA expAVX2Consts<>+12(SB)/4, $0x39506967 // p0 = 0.000198756915
DATA expAVX2Consts<>+16(SB)/4, $0x39506967 // p0 = 0.000198756915
DATA expAVX2Consts<>+20(SB)/4, $0x39506967 // p0 = 0.000198756915
DATA expAVX2Consts<>+24(SB)/4, $0x39506967 // p0 = 0.000198756915
DATA expAVX2Consts<>+28(SB)/4, $0x39506967 // p0 = 0.000198756915
DATA expAVX2Consts<>+32(SB)/4, $0x3ab743ce // p1 = 0.0013981999507
DATA expAVX2Consts<>+36(SB)/4, $0x3ab743ce // p1 = 0.0013981999507
DATA expAVX2Consts<>+40(SB)/4, $0x3ab743ce // p1 = 0.0013981999507
DATA expAVX2Consts<>+44(SB)/4, $0x3ab743ce // p1 = 0.0013981999507
DATA expAVX2Consts<>+48(SB)/4, $0x3ab743ce // p1 = 0.0013981999507
DATA expAVX2Consts<>+52(SB)/4, $0x3ab743ce // p1 = 0.0013981999507
DATA expAVX2Consts<>+56(SB)/4, $0x3ab743ce // p1 = 0.0013981999507
DATA expAVX2Consts<>+60(SB)/4, $0x3ab743ce // p1 = 0.0013981999507
DATA expAVX2Consts<>+64(SB)/4, $0x3c088908 // p2 = 0.0083334519073
DATA expAVX2Consts<>+68(SB)/4, $0x3c088908 // p2 = 0.0083334519073
DATA expAVX2Consts<>+72(SB)/4, $0x3c088908 // p2 = 0.0083334519073
DATA expAVX2Consts<>+76(SB)/4, $0x3c088908 // p2 = 0.0083334519073
DATA expAVX2Consts<>+80(SB)/4, $0x3c088908 // p2 = 0.0083334519073
DATA expAVX2Consts<>+84(SB)/4, $0x3c088908 // p2 = 0.0083334519073
DATA expAVX2Consts<>+88(SB)/4, $0x3c088908 // p2 = 0.0083334519073
DATA expAVX2Consts<>+92(SB)/4, $0x3c088908 // p2 = 0.0083334519073
DATA expAVX2Consts<>+96(SB)/4, $0x3d2aa9c1 // p3 = 0.041665795894
DATA expAVX2Consts<>+100(SB)/4, $0x3d2aa9c1 // p3 = 0.041665795894
DATA expAVX2Consts<>+104(SB)/4, $0x3d2aa9c1 // p3 = 0.041665795894
DATA expAVX2Consts<>+108(SB)/4, $0x3d2aa9c1 // p3 = 0.041665795894
DATA expAVX2Consts<>+112(SB)/4, $0x3d2aa9c1 // p3 = 0.041665795894
DATA expAVX2Consts<>+116(SB)/4, $0x3d2aa9c1 // p3 = 0.041665795894
DATA expAVX2Consts<>+120(SB)/4, $0x3d2aa9c1 // p3 = 0.041665795894
DATA expAVX2Consts<>+124(SB)/4, $0x3d2aa9c1 // p3 = 0.041665795894
DATA expAVX2Consts<>+128(SB)/4, $0x3e2aaaaa // p4 = 0.16666665459
DATA expAVX2Consts<>+132(SB)/4, $0x3e2aaaaa // p4 = 0.16666665459
DATA expAVX2Consts<>+136(SB)/4, $0x3e2aaaaa // p4 = 0.16666665459
DATA expAVX2Consts<>+140(SB)/4, $0x3e2aaaaa // p4 = 0.16666665459
DATA expAVX2Consts<>+144(SB)/4, $0x3e2aaaaa // p4 = 0.16666665459
DATA expAVX2Consts<>+148(SB)/4, $0x3e2aaaaa // p4 = 0.16666665459
DATA expAVX2Consts<>+152(SB)/4, $0x3e2aaaaa // p4 = 0.16666665459
DATA expAVX2Consts<>+156(SB)/4, $0x3e2aaaaa // p4 = 0.16666665459
DATA expAVX2Consts<>+160(SB)/4, $0x3f000000 // p5 = 0.50000001201
DATA expAVX2Consts<>+164(SB)/4, $0x3f000000 // p5 = 0.50000001201
DATA expAVX2Consts<>+168(SB)/4, $0x3f000000 // p5 = 0.50000001201
DATA expAVX2Consts<>+172(SB)/4, $0x3f000000 // p5 = 0.50000001201
DATA expAVX2Consts<>+176(SB)/4, $0x3f000000 // p5 = 0.50000001201
DATA expAVX2Consts<>+180(SB)/4, $0x3f000000 // p5 = 0.50000001201
DATA expAVX2Consts<>+184(SB)/4, $0x3f000000 // p5 = 0.50000001201
DATA expAVX2Consts<>+188(SB)/4, $0x3f000000 // p5 = 0.50000001201
DATA expAVX2Consts<>+192(SB)/4, $0x3f800000 // one = 1.0
DATA expAVX2Consts<>+196(SB)/4, $0x3f800000 // one = 1.0
DATA expAVX2Consts<>+200(SB)/4, $0x3f800000 // one = 1.0
DATA expAVX2Consts<>+204(SB)/4, $0x3f800000 // one = 1.0
DATA expAVX2Consts<>+208(SB)/4, $0x3f800000 // one = 1.0
DATA expAVX2Consts<>+212(SB)/4, $0x3f800000 // one = 1.0
DATA expAVX2Consts<>+216(SB)/4, $0x3f800000 // one = 1.0
DATA expAVX2Consts<>+220(SB)/4, $0x3f800000 // one = 1.0
DATA expAVX2Consts<>+224(SB)/4, $0x3fb8aa3b // log2e = 1.4426950408889634
DATA expAVX2Consts<>+228(SB)/4, $0x3fb8aa3b // log2e = 1.4426950408889634
DATA expAVX2Consts<>+232(SB)/4, $0x3fb8aa3b // log2e = 1.4426950408889634
DATA expAVX2Consts<>+236(SB)/4, $0x3fb8aa3b // log2e = 1.4426950408889634
DATA expAVX2Consts<>+240(SB)/4, $0x3fb8aa3b // log2e = 1.4426950408889634
DATA expAVX2Consts<>+244(SB)/4, $0x3fb8aa3b // log2e = 1.4426950408889634
DATA expAVX2Consts<>+248(SB)/4, $0x3fb8aa3b // log2e = 1.4426950408889634
DATA expAVX2Consts<>+252(SB)/4, $0x3fb8aa3b // log2e = 1.4426950408889634
DATA expAVX2Consts<>+256(SB)/4, $0x4b400000 // roundup = 12582912.0
DATA expAVX2Consts<>+260(SB)/4, $0x4b400000 // roundup = 12582912.0
DATA expAVX2Consts<>+264(SB)/4, $0x4b400000 // roundup = 12582912.0
DATA expAVX2Consts<>+268(SB)/4, $0x4b400000 // roundup = 12582912.0
DATA expAVX2Consts<>+272(SB)/4, $0x4b400000 // roundup = 12582912.0
DATA expAVX2Consts<>+276(SB)/4, $0x4b400000 // roundup = 12582912.0
DATA expAVX2Consts<>+280(SB)/4, $0x4b400000 // roundup = 12582912.0
DATA expAVX2Consts<>+284(SB)/4, $0x4b400000 // roundup = 12582912.0
DATA expAVX2Consts<>+288(SB)/4, $0x3f318000 // ln2hi = 0.693359375
DATA expAVX2Consts<>+292(SB)/4, $0x3f318000 // ln2hi = 0.693359375
DATA expAVX2Consts<>+296(SB)/4, $0x3f318000 // ln2hi = 0.693359375
DATA expAVX2Consts<>+300(SB)/4, $0x3f318000 // ln2hi = 0.693359375
DATA expAVX2Consts<>+304(SB)/4, $0x3f318000 // ln2hi = 0.693359375
DATA expAVX2Consts<>+308(SB)/4, $0x3f318000 // ln2hi = 0.693359375
DATA expAVX2Consts<>+312(SB)/4, $0x3f318000 // ln2hi = 0.693359375
DATA expAVX2Consts<>+316(SB)/4, $0x3f318000 // ln2hi = 0.693359375
DATA expAVX2Consts<>+320(SB)/4, $0xb95e8083 // ln2lo = -0.00021219444
DATA expAVX2Consts<>+324(SB)/4, $0xb95e8083 // ln2lo = -0.00021219444
DATA expAVX2Consts<>+328(SB)/4, $0xb95e8083 // ln2lo = -0.00021219444
DATA expAVX2Consts<>+332(SB)/4, $0xb95e8083 // ln2lo = -0.00021219444
DATA expAVX2Consts<>+336(SB)/4, $0xb95e8083 // ln2lo = -0.00021219444
DATA expAVX2Consts<>+340(SB)/4, $0xb95e8083 // ln2lo = -0.00021219444
DATA expAVX2Consts<>+344(SB)/4, $0xb95e8083 // ln2lo = -0.00021219444
DATA expAVX2Consts<>+348(SB)/4, $0xb95e8083 // ln2lo = -0.00021219444
DATA expAVX2Consts<>+352(SB)/4, $0xc2aeac50 // minarg = -87.3365447505531
DATA expAVX2Consts<>+356(SB)/4, $0xc2aeac50 // minarg = -87.3365447505531
DATA expAVX2Consts<>+360(SB)/4, $0xc2aeac50 // minarg = -87.3365447505531
DATA expAVX2Consts<>+364(SB)/4, $0xc2aeac50 // minarg = -87.3365447505531
DATA expAVX2Consts<>+368(SB)/4, $0xc2aeac50 // minarg = -87.3365447505531
DATA expAVX2Consts<>+372(SB)/4, $0xc2aeac50 // minarg = -87.3365447505531
DATA expAVX2Consts<>+376(SB)/4, $0xc2aeac50 // minarg = -87.3365447505531
DATA expAVX2Consts<>+380(SB)/4, $0xc2aeac50 // minarg = -87.3365447505531
DATA expAVX2Consts<>+384(SB)/4, $0x42b0c0a5 // maxfast = 88.3762626647949
DATA expAVX2Consts<>+388(SB)/4, $0x42b0c0a5 // maxfast = 88.3762626647949
DATA expAVX2Consts<>+392(SB)/4, $0x42b0c0a5 // maxfast = 88.3762626647949
DATA expAVX2Consts<>+396(SB)/4, $0x42b0c0a5 // maxfast = 88.3762626647949
DATA expAVX2Consts<>+400(SB)/4, $0x42b0c0a5 // maxfast = 88.3762626647949
DATA expAVX2Consts<>+404(SB)/4, $0x42b0c0a5 // maxfast = 88.3762626647949
DATA expAVX2Consts<>+408(SB)/4, $0x42b0c0a5 // maxfast = 88.3762626647949
DATA expAVX2Consts<>+412(SB)/4, $0x42b0c0a5 // maxfast = 88.3762626647949
DATA expAVX2Consts<>+416(SB)/4, $127
DATA expAVX2Consts<>+420(SB)/4, $127
DATA expAVX2Consts<>+424(SB)/4, $127
DATA expAVX2Consts<>+428(SB)/4, $127
DATA expAVX2Consts<>+432(SB)/4, $127
DATA expAVX2Consts<>+436(SB)/4, $127
DATA expAVX2Consts<>+440(SB)/4, $127
DATA expAVX2Consts<>+444(SB)/4, $127
GLOBL expAVX2Consts<>(SB), RODATA|NOPTR, $448

#define C_P0 0
#define C_P1 32
#define C_P2 64
#define C_P3 96
#define C_P4 128
#define C_P5 160
#define C_ONE 192
#define C_LOG2E 224
#define C_ROUNDUP 256
#define C_LN2HI 288
#define C_LN2LO 320
#define C_MINARG 352
#define C_MAXFAST 384
#define C_BIAS 416

// LOADCONSTS puts the constants EXP8 keeps in registers into Y9–Y14 and
// the table's address into R8.
#define LOADCONSTS \
	LEAQ    expAVX2Consts<>(SB), R8 \
	VMOVUPS C_MAXFAST(R8), Y9       \
	VMOVUPS C_MINARG(R8), Y10       \
	VMOVUPS C_LN2LO(R8), Y11        \
	VMOVUPS C_LN2HI(R8), Y12        \
	VMOVUPS C_ROUNDUP(R8), Y13      \
	VMOVUPS C_LOG2E(R8), Y14

// BAILIF jumps to label when a lane of Y0 is above expFastMax or NaN
// (compare predicate 6, not-less-or-equal, is true for NaN).
#define BAILIF(label) \
	VCMPPS    $6, Y9, Y0, Y1 \
	VMOVMSKPS Y1, AX         \
	TESTL     AX, AX         \
	JNZ       label

// EXP8 sets Y5 = e^Y0 for lanes in [−87.33, expFastMax] and 0 below;
// it clobbers Y0–Y4 and Y6. Y1 marks the lanes below −87.33; Y2 gets
// x·log2e + 1.5·2^23, whose low bits are n = round(x·log2e), and Y3 n as a
// float; Y4 is 2^n, built in the exponent bits; Y0 becomes
// r = x − n·ln2hi − n·ln2lo; Y5 = p(r)·r² + r + 1, times 2^n.
#define EXP8 \
	VCMPPS      $1, Y10, Y0, Y1     \
	VMOVAPS     Y13, Y2             \
	VFMADD231PS Y14, Y0, Y2         \
	VSUBPS      Y13, Y2, Y3         \
	VPSUBD      Y13, Y2, Y4         \
	VPADDD      C_BIAS(R8), Y4, Y4  \
	VPSLLD      $23, Y4, Y4         \
	VFNMADD231PS Y12, Y3, Y0        \
	VFNMADD231PS Y11, Y3, Y0        \
	VMOVUPS     C_P0(R8), Y5        \
	VFMADD213PS C_P1(R8), Y0, Y5    \
	VFMADD213PS C_P2(R8), Y0, Y5    \
	VFMADD213PS C_P3(R8), Y0, Y5    \
	VFMADD213PS C_P4(R8), Y0, Y5    \
	VFMADD213PS C_P5(R8), Y0, Y5    \
	VMULPS      Y0, Y0, Y6          \
	VADDPS      C_ONE(R8), Y0, Y2   \
	VFMADD213PS Y2, Y6, Y5          \
	VMULPS      Y4, Y5, Y5          \
	VANDNPS     Y5, Y1, Y5

// func expSliceAVX2(dst, src *float32, n int, shift float32) (sum float64, done int)
TEXT ·expSliceAVX2(SB), NOSPLIT, $0-48
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS shift+24(FP), Y15
	LOADCONSTS
	VXORPD       Y7, Y7, Y7
	VXORPD       Y8, Y8, Y8
	XORQ         BX, BX

expLoop:
	LEAQ         8(BX), DX
	CMPQ         DX, CX
	JGT          expDone
	VMOVUPS      (SI)(BX*4), Y0
	VADDPS       Y15, Y0, Y0
	BAILIF(expDone)
	EXP8
	VMOVUPS      Y5, (DI)(BX*4)
	VCVTPS2PD    X5, Y6
	VADDPD       Y6, Y7, Y7
	VEXTRACTF128 $1, Y5, X5
	VCVTPS2PD    X5, Y6
	VADDPD       Y6, Y8, Y8
	MOVQ         DX, BX
	JMP          expLoop

expDone:
	VADDPD       Y8, Y7, Y7
	VEXTRACTF128 $1, Y7, X8
	VADDPD       X8, X7, X7
	VHADDPD      X7, X7, X7
	VMOVSD       X7, sum+32(FP)
	VZEROUPPER
	MOVQ         BX, done+40(FP)
	RET

// func sigmoidAVX2(dst, src *float32, n int) (done int)
TEXT ·sigmoidAVX2(SB), NOSPLIT, $0-32
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    n+16(FP), CX
	LOADCONSTS
	VMOVUPS C_ONE(R8), Y15
	VXORPS  Y8, Y8, Y8
	XORQ    BX, BX

sigLoop:
	LEAQ    8(BX), DX
	CMPQ    DX, CX
	JGT     sigDone
	VMOVUPS (SI)(BX*4), Y0
	VSUBPS  Y0, Y8, Y0 // −x
	BAILIF(sigDone)
	EXP8
	VADDPS  Y15, Y5, Y5
	VDIVPS  Y5, Y15, Y5 // 1/(1 + e^−x)
	VMOVUPS Y5, (DI)(BX*4)
	MOVQ    DX, BX
	JMP     sigLoop

sigDone:
	VZEROUPPER
	MOVQ BX, done+24(FP)
	RET

// func maxAVX2(x *float32, n int, lanes *[8]float32) (nan bool)
// n ≥ 8; the lane-wise maxima of the first n rounded down to eight go to
// lanes, and nan reports whether any of them is NaN.
TEXT ·maxAVX2(SB), NOSPLIT, $0-25
	MOVQ    x+0(FP), SI
	MOVQ    n+8(FP), CX
	MOVQ    lanes+16(FP), DI
	VMOVUPS (SI), Y0
	VCMPPS  $3, Y0, Y0, Y3
	MOVQ    $8, BX

maxLoop:
	LEAQ    8(BX), DX
	CMPQ    DX, CX
	JGT     maxDone
	VMOVUPS (SI)(BX*4), Y1
	VCMPPS  $3, Y1, Y1, Y2
	VORPS   Y2, Y3, Y3
	VMAXPS  Y1, Y0, Y0
	MOVQ    DX, BX
	JMP     maxLoop

maxDone:
	VMOVUPS   Y0, (DI)
	VMOVMSKPS Y3, AX
	VZEROUPPER
	TESTL     AX, AX
	SETNE     nan+24(FP)
	RET
