//go:build amd64 && !purego

package kernels

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

// The AVX-512 loops with the AVX2 ones' Go around them.
var (
	expSliceVec512 = expSliceWith(expSliceAVX512F)
	sigmoidVec512  = sigmoidWith(sigmoidAVX512F)
	maxVec512      = maxWith(maxAVX512F)
)
