//go:build amd64 && !purego

package kernels

import (
	"math"

	"golang.org/x/sys/cpu"
)

// The default build's vector exponentials: AVX2 and FMA loops in Go
// assembly (exp_avx2_amd64.s), the same algorithm as expCore, taking
// ExpSlice, Sigmoid and Max where the CPU has them but not AVX-512F (there
// the AVX-512F loops of exp_avx512_amd64.s, with identical results, take
// them). Softmax, cross-entropy and SiLU spent a sizeable share of a
// training step's processor time in the scalar loops (BENCHMARKS.md has
// the measurement).

//go:noescape
func expSliceAVX2(dst, src *float32, n int, shift float32) (sum float64, done int)

//go:noescape
func sigmoidAVX2(dst, src *float32, n int) (done int)

//go:noescape
func maxAVX2(x *float32, n int, lanes *[8]float32) (nan bool)

func init() {
	switch {
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		// The AVX-512F loops (exp_avx512_amd64.s) give the AVX2 loops'
		// results bit for bit: an AVX-512 machine computes what an AVX2 one
		// does, twice as fast.
		expSliceImpl, sigmoidImpl, maxImpl = expSliceVec512, sigmoidVec512, maxVec512
		vectorExp = "avx512"
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		expSliceImpl, sigmoidImpl, maxImpl = expSliceVec, sigmoidVec, maxVec
		vectorExp = "avx2"
	}
}

// expSliceVec runs the assembly loop, and the scalar one over each block
// of eight it stops at (an argument above expFastMax, or NaN) and over the
// tail.
func expSliceVec(dst, src []float32, shift float32) float64 {
	var sum float64
	for i := 0; i < len(src); {
		s, k := expSliceAVX2(&dst[i], &src[i], len(src)-i, shift)
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

func sigmoidVec(dst, src []float32) {
	for i := 0; i < len(src); {
		i += sigmoidAVX2(&dst[i], &src[i], len(src)-i)
		if i < len(src) {
			end := min(i+8, len(src))
			sigmoidGo(dst[i:end], src[i:end])
			i = end
		}
	}
}

func maxVec(x []float32) float32 {
	if len(x) < 8 {
		return maxGo(x)
	}
	var lanes [8]float32
	nan := maxAVX2(&x[0], len(x), &lanes)
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
