//go:build goexperiment.simd && amd64

package kernels

import "simd/archsimd"

// AVX-512 versions of ExpSlice, Sigmoid and Max for the SIMD build: the
// same Cody–Waite reduction and polynomial as Exp, sixteen lanes at a time,
// with VSCALEFPS applying 2^n (which also produces infinities and
// subnormals where the scalar path flushes to zero) and VRNDSCALEPS
// rounding. Inputs are clamped to [−104, 89], beyond which e^x is 0 or
// +Inf in float32, and NaN lanes are put back at the end.

func init() {
	// Not over the default build's AVX-512F assembly (exp_avx512_amd64.s),
	// whose results are the AVX2 and assembly loops' bit for bit (this
	// file's differ: VSCALEFPS keeps subnormals); that init overrides this
	// one if it runs later. So these run in a purego SIMD build only.
	if archsimd.X86.AVX512() && vectorExp != "avx512" {
		expSliceImpl, sigmoidImpl, maxImpl = expSliceAVX512, sigmoidAVX512, maxAVX512
		vectorExp = "avx512"
	}
}

// expConsts holds the broadcast constants, built once per call.
type expConsts struct {
	lo, hi, log2e, negLn2Hi, negLn2Lo, one archsimd.Float32x16
	p0, p1, p2, p3, p4, p5                 archsimd.Float32x16
}

func newExpConsts() expConsts {
	b := archsimd.BroadcastFloat32x16
	return expConsts{
		lo: b(-104), hi: b(89), log2e: b(1.44269504088896341),
		negLn2Hi: b(-0.693359375), negLn2Lo: b(2.12194440e-4), one: b(1),
		p0: b(1.9875691500e-4), p1: b(1.3981999507e-3), p2: b(8.3334519073e-3),
		p3: b(4.1665795894e-2), p4: b(1.6666665459e-1), p5: b(5.0000001201e-1),
	}
}

func (c *expConsts) exp(x archsimd.Float32x16) archsimd.Float32x16 {
	xc := x.Max(c.lo).Min(c.hi)
	fn := xc.Mul(c.log2e).RoundToEvenScaled(0)
	r := fn.MulAdd(c.negLn2Hi, xc)
	r = fn.MulAdd(c.negLn2Lo, r)
	y := c.p0.MulAdd(r, c.p1)
	y = y.MulAdd(r, c.p2)
	y = y.MulAdd(r, c.p3)
	y = y.MulAdd(r, c.p4)
	y = y.MulAdd(r, c.p5)
	y = y.MulAdd(r.Mul(r), r.Add(c.one))
	e := y.Scale(fn)
	if nan := x.IsNaN(); nan.ToBits() != 0 {
		e = x.Merge(e, nan) // NaN lanes from x
	}
	return e
}

func expSliceAVX512(dst, src []float32, shift float32) float64 {
	c := newExpConsts()
	sh := archsimd.BroadcastFloat32x16(shift)
	// The sum stays in float64 vector lanes: scalar float code inside a
	// vector loop (legacy SSE encodings next to dirty AVX-512 state) ran
	// far slower on the development machine (BENCHMARKS.md has the figure).
	var acc0, acc1 archsimd.Float64x8
	i := 0
	for ; i+16 <= len(src); i += 16 {
		e := c.exp(archsimd.LoadFloat32x16Slice(src[i:]).Add(sh))
		e.StoreSlice(dst[i:])
		acc0 = acc0.Add(e.GetLo().ConvertToFloat64())
		acc1 = acc1.Add(e.GetHi().ConvertToFloat64())
	}
	var lanes [8]float64
	acc0.Add(acc1).Store(&lanes)
	archsimd.ClearAVXUpperBits()
	var sum float64
	for _, v := range lanes {
		sum += v
	}
	if i < len(src) {
		sum += expSliceGo(dst[i:], src[i:], shift)
	}
	return sum
}

func sigmoidAVX512(dst, src []float32) {
	c := newExpConsts()
	zero := archsimd.BroadcastFloat32x16(0)
	i := 0
	for ; i+16 <= len(src); i += 16 {
		x := archsimd.LoadFloat32x16Slice(src[i:])
		e := c.exp(zero.Sub(x))
		c.one.Div(c.one.Add(e)).StoreSlice(dst[i:])
	}
	archsimd.ClearAVXUpperBits()
	if i < len(src) {
		sigmoidGo(dst[i:], src[i:])
	}
}

func maxAVX512(x []float32) float32 {
	if len(x) < 16 {
		return maxGo(x)
	}
	m := archsimd.LoadFloat32x16Slice(x)
	var nan uint16
	i := 16
	nan |= m.IsNaN().ToBits()
	for ; i+16 <= len(x); i += 16 {
		v := archsimd.LoadFloat32x16Slice(x[i:])
		nan |= v.IsNaN().ToBits()
		m = m.Max(v)
	}
	var lanes [16]float32
	m.Store(&lanes)
	archsimd.ClearAVXUpperBits()
	r := maxGo(lanes[:])
	if i < len(x) {
		r = max32(r, maxGo(x[i:]))
		if t := maxGo(x[i:]); t != t {
			return t
		}
	}
	if nan != 0 {
		return float32(0) / zeroF32
	}
	return r
}

var zeroF32 float32 // a variable, so that 0/zeroF32 is a run-time NaN
