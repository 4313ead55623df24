package nn

import (
	"math"
	"sync"
)

// RoPE is rotary position embedding in transformers' rotate_half layout:
// within each head of width d, element i pairs with element i + d/2 and the
// pair is rotated by angle pos · invFreq[i]. Being a rotation, its backward
// is the inverse rotation, so it keeps no activations.
type RoPE struct {
	HeadDim int
	InvFreq []float64 // d/2 inverse frequencies

	mu       sync.Mutex
	cos, sin []float32 // [positions][d/2]
}

// DefaultInvFreq returns θ^(−2i/d) for i in [0, d/2).
func DefaultInvFreq(headDim int, theta float64) []float64 {
	f := make([]float64, headDim/2)
	for i := range f {
		f[i] = 1 / math.Pow(theta, float64(2*i)/float64(headDim))
	}
	return f
}

// table returns cos/sin for positions [0, n), computed in float64 and
// rounded once.
func (r *RoPE) table(n int) (cos, sin []float32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	half := r.HeadDim / 2
	if have := len(r.cos) / max(half, 1); have < n {
		r.cos, r.sin = make([]float32, n*half), make([]float32, n*half)
		for p := 0; p < n; p++ {
			for i := 0; i < half; i++ {
				a := float64(p) * r.InvFreq[i]
				r.cos[p*half+i] = float32(math.Cos(a))
				r.sin[p*half+i] = float32(math.Sin(a))
			}
		}
	}
	return r.cos, r.sin
}

// Apply rotates, in place, every head of the rows of x: row t of x is token
// t mod seqLen (rows are [batch][seq] flattened), heads are heads
// consecutive blocks of HeadDim starting at offset, rows stride apart.
// inverse applies the transpose rotation, which is the backward pass.
func (r *RoPE) Apply(x []float32, offset, stride, rowCount, seqLen, heads int, inverse bool) {
	r.ApplyAt(x, offset, stride, rowCount, seqLen, 0, heads, inverse)
}
