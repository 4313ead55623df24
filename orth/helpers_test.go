package orth

import (
	"github.com/orthotune/orthotune/tensor"
)

// randVec returns n N(0, std²) values.
func randVec(rng *tensor.RNG, n int, std float64) []float32 {
	return rng.Randn(std, n).Data
}

// randSkew returns packed v ~ N(0, std²) and its b×b skew matrix.
func randSkew(rng *tensor.RNG, b int, std float64) (v, q []float32) {
	v = randVec(rng, NumParams(b), std)
	q = make([]float32, b*b)
	UnpackSkew(v, b, q)
	return v, q
}

func rotation(c Cayley, q []float32, b int) []float32 {
	r := make([]float32, b*b)
	c.Rotation(q, b, r)
	return r
}

// naiveMul returns A·B (m×k times k×n) in float64, rounded to float32.
func naiveMul(a, b []float32, m, k, n int) []float32 {
	out := make([]float32, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				s += float64(a[i*k+p]) * float64(b[p*n+j])
			}
			out[i*n+j] = float32(s)
		}
	}
	return out
}

func transpose(a []float32, m, n int) []float32 {
	t := make([]float32, m*n)
	for i := range m {
		for j := range n {
			t[j*m+i] = a[i*n+j]
		}
	}
	return t
}

func identity(b int) []float32 {
	m := make([]float32, b*b)
	for i := range b {
		m[i*b+i] = 1
	}
	return m
}
