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

// The Go around an assembly loop, the same for the AVX2 and the AVX-512F
// ones (exp_avx512_amd64.go): each loop runs over the slice until a block
// of eight it will not take (an argument above expFastMax, or NaN), which
// the scalar loop takes, as it takes the tail.
var (
	expSliceVec = expSliceWith(expSliceAVX2)
	sigmoidVec  = sigmoidWith(sigmoidAVX2)
	maxVec      = maxWith(maxAVX2)
)

// expSliceWith returns ExpSlice over the assembly loop asm.
func expSliceWith(asm func(dst, src *float32, n int, shift float32) (float64, int)) func(dst, src []float32, shift float32) float64 {
	return func(dst, src []float32, shift float32) float64 {
		var sum float64
		for i := 0; i < len(src); {
			s, k := asm(&dst[i], &src[i], len(src)-i, shift)
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
}

// sigmoidWith returns Sigmoid over the assembly loop asm.
func sigmoidWith(asm func(dst, src *float32, n int) int) func(dst, src []float32) {
	return func(dst, src []float32) {
		for i := 0; i < len(src); {
			i += asm(&dst[i], &src[i], len(src)-i)
			if i < len(src) {
				end := min(i+8, len(src))
				sigmoidGo(dst[i:end], src[i:end])
				i = end
			}
		}
	}
}

// maxWith returns Max over the assembly loop asm, which reduces whole
// blocks of eight into lanes and reports a NaN.
func maxWith(asm func(x *float32, n int, lanes *[8]float32) bool) func(x []float32) float32 {
	return func(x []float32) float32 {
		if len(x) < 8 {
			return maxGo(x)
		}
		var lanes [8]float32
		nan := asm(&x[0], len(x), &lanes)
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
}
