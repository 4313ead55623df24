package kernels

import "math"

// Exp returns e^x in float32, within 2 ulp of the correctly rounded result
// for every x whose result is a normal float32 (|error| measured against
// float64 math.Exp over all float32 inputs in the range, see the test);
// results below the smallest normal float32 (x < −87.33) are flushed to
// zero, x > 88.72 gives +Inf, and NaN gives NaN. It is about three times as
// fast as float32(math.Exp(float64(x))) and is what softmax, cross-entropy
// and the SiLU/sigmoid activations use.
//
// The method is Cody and Waite's: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split
// in two parts so that n·ln2_hi is exact), e^r from a degree-6 minimax
// polynomial (Moshier's Cephes coefficients, facts about e^r on that
// interval), and 2^n put straight into the exponent bits.
func Exp(x float32) float32 {
	const (
		maxArg  = 88.72283905206835  // ln(MaxFloat32)
		minArg  = -87.33654475055310 // ln(smallest normal float32)
		log2e   = 1.44269504088896341
		ln2Hi   = 0.693359375 // 8 significant bits: n·ln2Hi is exact
		ln2Lo   = -2.12194440e-4
		p0, p1  = 1.9875691500e-4, 1.3981999507e-3
		p2, p3  = 8.3334519073e-3, 4.1665795894e-2
		p4, p5  = 1.6666665459e-1, 5.0000001201e-1
		roundup = 0x1.8p23 // adding and subtracting it rounds to an integer
	)
	switch {
	case x > maxArg:
		return float32(math.Inf(1))
	case x < minArg:
		return 0
	case x != x:
		return x
	}
	fn := (x*log2e + roundup) - roundup // round to nearest
	r := x - fn*ln2Hi - fn*ln2Lo
	z := r * r
	y := ((((p0*r+p1)*r+p2)*r+p3)*r+p4)*r + p5
	y = y*z + r + 1
	// 2^n for n in [−126, 128] as two exact factors, so that the exponent
	// field neither overflows nor reaches the subnormals.
	n := int32(fn)
	if n > 0 {
		return y * math.Float32frombits(uint32(n+126)<<23) * 2
	}
	return y * math.Float32frombits(uint32(n+128)<<23) * 0.5
}

// ExpSlice sets dst[i] = Exp(src[i] + shift) and returns their sum,
// accumulated in float64: softmax's and cross-entropy's inner loop. dst and
// src may be the same slice.
func ExpSlice(dst, src []float32, shift float32) float64 {
	dst = dst[:len(src)]
	var s0, s1 float64
	i := 0
	for ; i+1 < len(src); i += 2 {
		e0, e1 := Exp(src[i]+shift), Exp(src[i+1]+shift)
		dst[i], dst[i+1] = e0, e1
		s0 += float64(e0)
		s1 += float64(e1)
	}
	if i < len(src) {
		e := Exp(src[i] + shift)
		dst[i] = e
		s0 += float64(e)
	}
	return s0 + s1
}
