package data

import (
	"slices"
	"testing"
)

// Reference outputs of SplitMix64 from Vigna's splitmix64.c.
func TestSplitMix64Reference(t *testing.T) {
	tests := []struct {
		seed uint64
		want []uint64
	}{
		{0, []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f, 0xf88bb8a8724c81ec}},
		{1234567, []uint64{6457827717110365317, 3203168211198807973, 9817491932198370423}},
	}
	for _, tt := range tests {
		r := &splitMix64{state: tt.seed}
		for i, w := range tt.want {
			if got := r.next(); got != w {
				t.Errorf("seed %d output %d: %#x, want %#x", tt.seed, i, got, w)
			}
		}
	}
}

// The derived streams, bounded draws and shuffles match an independent
// implementation (testdata/rng_reference.py), so orders are the same on
// every platform.
func TestPermutationReference(t *testing.T) {
	tests := []struct {
		name string
		got  []int
		want []int
	}{
		{"epoch 0", permutation(10, derive(42, streamEpoch, 0)), []int{8, 3, 9, 6, 1, 5, 7, 4, 2, 0}},
		{"epoch 1", permutation(10, derive(42, streamEpoch, 1)), []int{3, 0, 6, 8, 7, 1, 5, 2, 9, 4}},
		{"split", permutation(12, derive(7, streamSplit, 0)), []int{3, 8, 10, 2, 6, 4, 1, 9, 0, 11, 7, 5}},
	}
	for _, tt := range tests {
		if !slices.Equal(tt.got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	r := &splitMix64{state: 99}
	var draws []int
	for range 10 {
		draws = append(draws, int(r.below(3)))
	}
	if want := []int{0, 0, 2, 0, 0, 0, 2, 2, 1, 1}; !slices.Equal(draws, want) {
		t.Errorf("below(3): %v, want %v", draws, want)
	}
}

// below is uniform: a loose chi-square bound over 7 buckets, and every
// position of a shuffle is hit by every element.
func TestBelowUniform(t *testing.T) {
	r := &splitMix64{state: 5}
	const n, draws = 7, 70_000
	var counts [n]int
	for range draws {
		v := r.below(n)
		if v >= n {
			t.Fatalf("below(%d) = %d", n, v)
		}
		counts[v]++
	}
	expected := float64(draws) / n
	chi2 := 0.0
	for _, c := range counts {
		d := float64(c) - expected
		chi2 += d * d / expected
	}
	if chi2 > 30 { // 6 degrees of freedom: p < 1e-4
		t.Errorf("chi-square %.1f over %v", chi2, counts)
	}
	var seen [4][4]bool
	for seed := range uint64(200) {
		p := permutation(4, derive(seed, streamEpoch, 0))
		for pos, v := range p {
			seen[pos][v] = true
		}
	}
	for pos := range seen {
		for v := range seen[pos] {
			if !seen[pos][v] {
				t.Errorf("element %d never landed at position %d", v, pos)
			}
		}
	}
}
