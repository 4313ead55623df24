//go:build amd64 && !purego

package kernels

import "math"

// The default build's AVX-512F exponentials (exp_avx512_amd64.s), chosen
// over the AVX2 loops where the CPU has AVX-512F (exp_avx2_amd64.go's
// init). They give every result, and ExpSlice's sum, bit for bit as the
// AVX2 loops do: the same fused steps per lane, the same blocks of eight
// handed to the scalar loop, the same float64 accumulation.

//go:noescape
func expSliceAVX512F(dst, src *float32, n int, shift float32) (sum float64, done int)

//go:noescape
func sigmoidAVX512F(dst, src *float32, n int) (done int)

//go:noescape
func maxAVX512F(x *float32, n int, lanes *[8]float32) (nan bool)

// expSliceVec512 is expSliceVec with the AVX-512 loop.
func expSliceVec512(dst, src []float32, shift float32) float64 {
	var sum float64
	for i := 0; i < len(src); {
		s, k := expSliceAVX512F(&dst[i], &src[i], len(src)-i, shift)
		sum += s
		i += k
		if i < len(src) {
			end := min(i+8, len(src))
			sum += expSliceGo(dst[i:end], src[i:end], shift)
			i = end
		}
	}
	return sum
}

// sigmoidVec512 is sigmoidVec with the AVX-512 loop.
func sigmoidVec512(dst, src []float32) {
	for i := 0; i < len(src); {
		i += sigmoidAVX512F(&dst[i], &src[i], len(src)-i)
		if i < len(src) {
			end := min(i+8, len(src))
			sigmoidGo(dst[i:end], src[i:end])
			i = end
		}
	}
}

// maxVec512 is maxVec with the AVX-512 loop.
func maxVec512(x []float32) float32 {
	if len(x) < 8 {
		return maxGo(x)
	}
	var lanes [8]float32
	nan := maxAVX512F(&x[0], len(x), &lanes)
	m := maxGo(lanes[:])
	if tail := x[len(x)&^7:]; len(tail) > 0 {
		t := maxGo(tail)
		nan = nan || t != t
		m = max32(m, t)
	}
	if nan {
		return float32(math.NaN())
	}
	return m
}
