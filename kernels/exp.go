package kernels

import "math"

// Exp returns e^x in float32, within 2 ulp of the correctly rounded result
// for every x whose result is a normal float32 (|error| measured against
// float64 math.Exp over all float32 inputs in the range, see the test);
// results below the smallest normal float32 (x < −87.33) are flushed to
// zero, x > 88.72 gives +Inf, and NaN gives NaN. It is faster than
// float32(math.Exp(float64(x))) (BENCHMARKS.md has the measurement) and is
// what softmax, cross-entropy and the SiLU/sigmoid activations use.
//
// The method is Cody and Waite's: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split
// in two parts so that n·ln2_hi is exact), e^r from a degree-6 minimax
// polynomial (Moshier's Cephes coefficients, facts about e^r on that
// interval), and 2^n put straight into the exponent bits.
func Exp(x float32) float32 {
	const (
		maxArg = 88.72283905206835  // ln(MaxFloat32)
		minArg = -87.33654475055310 // ln(smallest normal float32)
	)
	switch {
	case x > maxArg:
		return float32(math.Inf(1))
	case x < minArg:
		return 0
	case x != x:
		return x
	case x > expFastMax:
		// 2^128 is past the exponent field expCore builds; this sliver
		// below overflow is rare enough for float64.
		return float32(math.Exp(float64(x)))
	}
	return expCore(x)
}

// expFastMax is the largest x for which expCore's 2^n stays a normal
// float32 exponent (n ≤ 127).
const expFastMax = 88.3762626647949

// expCore is Exp for x in [−87.33, expFastMax], small enough to inline
// into the slice loops.
func expCore(x float32) float32 {
	const (
		log2e   = 1.44269504088896341
		ln2Hi   = 0.693359375 // 8 significant bits: n·ln2Hi is exact
		ln2Lo   = -2.12194440e-4
		p0, p1  = 1.9875691500e-4, 1.3981999507e-3
		p2, p3  = 8.3334519073e-3, 4.1665795894e-2
		p4, p5  = 1.6666665459e-1, 5.0000001201e-1
		roundup = 0x1.8p23 // adding and subtracting it rounds to an integer
	)
	fn := (x*log2e + roundup) - roundup // n = round(x·log2e)
	r := x - fn*ln2Hi - fn*ln2Lo
	y := ((((p0*r+p1)*r+p2)*r+p3)*r+p4)*r + p5
	y = y*(r*r) + r + 1
	return y * math.Float32frombits(uint32(int32(fn)+127)<<23) // 2^n in the exponent bits
}

// ExpSlice sets dst[i] = Exp(src[i] + shift) and returns their sum,
// accumulated in float64: softmax's and cross-entropy's inner loop. dst and
// src may be the same slice.
func ExpSlice(dst, src []float32, shift float32) float64 {
	return expSliceImpl(dst[:len(src)], src, shift)
}

// expSliceImpl, sigmoidImpl and maxImpl are the portable loops, replaced
// by vector ones where the SIMD build finds AVX-512.
var (
	// vectorExp names the vector loops chosen ("avx2", "avx512"), or is
	// empty for the portable ones.
	vectorExp    string
	expSliceImpl = expSliceGo
	sigmoidImpl  = sigmoidGo
	maxImpl      = maxGo
)

func expSliceGo(dst, src []float32, shift float32) float64 {
	var s0, s1, s2, s3 float32 // partial sums of at most 8 terms each, see below
	var sum float64
	i := 0
	for ; i+4 <= len(src); i += 4 {
		x0, x1, x2, x3 := src[i]+shift, src[i+1]+shift, src[i+2]+shift, src[i+3]+shift
		if !(inFast(x0) && inFast(x1) && inFast(x2) && inFast(x3)) {
			break
		}
		e0, e1, e2, e3 := expCore(x0), expCore(x1), expCore(x2), expCore(x3)
		d := (*[4]float32)(dst[i:])
		d[0], d[1], d[2], d[3] = e0, e1, e2, e3
		s0 += e0
		s1 += e1
		s2 += e2
		s3 += e3
		if i&28 == 28 { // every 8 groups: fold the float32 partials into float64
			sum += float64(s0) + float64(s1) + float64(s2) + float64(s3)
			s0, s1, s2, s3 = 0, 0, 0, 0
		}
	}
	sum += float64(s0) + float64(s1) + float64(s2) + float64(s3)
	for ; i < len(src); i++ {
		x := src[i] + shift
		var e float32
		if inFast(x) {
			e = expCore(x)
		} else {
			e = Exp(x) // the edges, infinities and NaN
		}
		dst[i] = e
		sum += float64(e)
	}
	return sum
}

// inFast reports whether expCore handles x.
func inFast(x float32) bool { return x >= -87.33654475055310 && x <= expFastMax }

// Max returns the largest element of x, NaN if any element is NaN, and −Inf
// for an empty x. It is slices.Max without the per-element NaN branch that
// makes that several times slower on float32.
func Max(x []float32) float32 { return maxImpl(x) }

func maxGo(x []float32) float32 {
	m0, m1, m2, m3 := float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1))
	nan := false
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := (*[4]float32)(x[i:])
		m0, m1, m2, m3 = max32(m0, v[0]), max32(m1, v[1]), max32(m2, v[2]), max32(m3, v[3])
		nan = nan || v[0] != v[0] || v[1] != v[1] || v[2] != v[2] || v[3] != v[3]
	}
	for ; i < len(x); i++ {
		m0 = max32(m0, x[i])
		nan = nan || x[i] != x[i]
	}
	if nan {
		return float32(math.NaN())
	}
	return max32(max32(m0, m1), max32(m2, m3))
}

// max32 is a branch-free-friendly maximum that ignores NaN in b.
func max32(a, b float32) float32 {
	if b > a {
		return b
	}
	return a
}

// Sigmoid sets dst[i] = 1/(1 + e^(−src[i])) with Exp's accuracy for the
// exponential. dst and src may be the same slice.
func Sigmoid(dst, src []float32) { sigmoidImpl(dst[:len(src)], src) }

func sigmoidGo(dst, src []float32) {
	for i, v := range src {
		x := -v
		var e float32
		if inFast(x) {
			e = expCore(x)
		} else {
			e = Exp(x)
		}
		dst[i] = 1 / (1 + e)
	}
}
