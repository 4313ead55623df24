package tensor

import (
	"fmt"
	"math/rand/v2"
)

// RNG is a seeded random source for initialisers and dropout. The same seed
// always yields the same sequence on every platform, and its state can be
// saved and restored (MarshalBinary, UnmarshalBinary) so that a resumed
// training run draws exactly what an uninterrupted one would.
type RNG struct {
	src *rand.PCG
	r   *rand.Rand
}

// NewRNG returns a generator seeded with seed.
func NewRNG(seed uint64) *RNG {
	src := new(rand.PCG)
	g := &RNG{src: src, r: rand.New(src)}
	g.Reseed(seed)
	return g
}

// MarshalBinary returns the generator's state.
func (g *RNG) MarshalBinary() ([]byte, error) { return g.src.MarshalBinary() }

// UnmarshalBinary restores a state returned by MarshalBinary; every later
// draw then equals what the saved generator would have drawn.
func (g *RNG) UnmarshalBinary(state []byte) error {
	if g.src == nil {
		g.src = rand.NewPCG(0, 0)
		g.r = rand.New(g.src)
	}
	if err := g.src.UnmarshalBinary(state); err != nil {
		return fmt.Errorf("tensor: restoring RNG state: %w", err)
	}
	return nil
}

// Uint64 returns a uniform 64-bit value, for seeding other generators.
func (g *RNG) Uint64() uint64 { return g.r.Uint64() }

// Reseed restarts the generator as NewRNG(seed) would.
func (g *RNG) Reseed(seed uint64) { g.src.Seed(seed, seed^0x9e3779b97f4a7c15) }

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
