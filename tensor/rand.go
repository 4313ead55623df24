package tensor

import "math/rand/v2"

// RNG is a seeded random source for initialisers. The same seed always
// yields the same sequence on every platform.
type RNG struct{ r *rand.Rand }

// NewRNG returns a generator seeded with seed.
func NewRNG(seed uint64) *RNG {
	return &RNG{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Float64 returns a uniform value in [0, 1).
func (g *RNG) Float64() float64 { return g.r.Float64() }

// IntN returns a uniform integer in [0, n).
func (g *RNG) IntN(n int) int { return g.r.IntN(n) }

// Normal fills t with N(mean, std²) samples.
func (g *RNG) Normal(t *Tensor, mean, std float64) {
	for i := range t.Data {
		t.Data[i] = float32(mean + std*g.r.NormFloat64())
	}
}

// Uniform fills t with U(lo, hi) samples.
func (g *RNG) Uniform(t *Tensor, lo, hi float64) {
	for i := range t.Data {
		t.Data[i] = float32(lo + (hi-lo)*g.r.Float64())
	}
}

// Randn returns a new tensor of the given shape filled with N(0, std²).
func (g *RNG) Randn(std float64, shape ...int) *Tensor {
	t := New(shape...)
	g.Normal(t, 0, std)
	return t
}
