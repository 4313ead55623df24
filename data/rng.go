package data

import "math/bits"

// splitMix64 is Steele, Lea and Flood's SplitMix64 generator (the seeding
// generator of Vigna's xoshiro family): a 64-bit counter advanced by the
// golden-ratio increment and passed through a bijective mixer. It is small,
// passes BigCrush, and, being plain integer arithmetic, gives the same
// stream on every platform.
type splitMix64 struct{ state uint64 }

const golden = 0x9e3779b97f4a7c15

func (r *splitMix64) next() uint64 {
	r.state += golden
	return mix64(r.state)
}

// mix64 is SplitMix64's output function (a variant of MurmurHash3's
// finalizer); it is a bijection on uint64.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// below returns a uniform draw from [0, n), n > 0, without modulo bias
// (Lemire's multiply-and-reject method).
func (r *splitMix64) below(n uint64) uint64 {
	hi, lo := bits.Mul64(r.next(), n)
	if lo < n {
		threshold := -n % n
		for lo < threshold {
			hi, lo = bits.Mul64(r.next(), n)
		}
	}
	return hi
}

// Streams derived from one user seed, so that the split and each epoch's
// shuffle draw from unrelated sequences (a plain seed+epoch would make seed
// s's second epoch equal seed s+1's first).
const (
	streamSplit = iota + 1
	streamEpoch
)

// derive returns the generator for stream (kind, index) of seed.
func derive(seed uint64, kind, index uint64) *splitMix64 {
	return &splitMix64{state: mix64(seed ^ mix64(kind*golden+mix64(index)))}
}

// permutation returns a uniformly random permutation of 0..n-1
// (Fisher–Yates, drawing from the top down).
func permutation(n int, r *splitMix64) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(r.below(uint64(i) + 1))
		p[i], p[j] = p[j], p[i]
	}
	return p
}
