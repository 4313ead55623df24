package orth

import (
	"math"
	"slices"
	"testing"

	"github.com/orthotune/orthotune/tensor"
)

func TestUnpackSkewOrderB4(t *testing.T) {
	v := []float32{1, 2, 3, 4, 5, 6}
	q := make([]float32, 16)
	for i := range q {
		q[i] = 99 // must be overwritten, diagonal included
	}
	UnpackSkew(v, 4, q)
	want := []float32{
		0, 1, 2, 3,
		-1, 0, 4, 5,
		-2, -4, 0, 6,
		-3, -5, -6, 0,
	}
	if !slices.Equal(q, want) {
		t.Fatalf("UnpackSkew([1..6], 4) = %v, want %v", q, want)
	}
	back := make([]float32, 6)
	PackSkew(q, 4, back)
	if !slices.Equal(back, v) {
		t.Errorf("PackSkew = %v, want %v", back, v)
	}
}

func TestPackRoundTrip(t *testing.T) {
	rng := tensor.NewRNG(1)
	for _, b := range []int{1, 2, 3, 16, 33} {
		v, q := randSkew(rng, b, 1)
		back := make([]float32, NumParams(b))
		PackSkew(q, b, back)
		if !slices.Equal(back, v) {
			t.Errorf("b=%d: PackSkew(UnpackSkew(v)) ≠ v", b)
		}
		for r := range b {
			for c := range b {
				if q[r*b+c] != -q[c*b+r] {
					t.Fatalf("b=%d: q not skew at (%d,%d)", b, r, c)
				}
			}
		}
	}
}

func TestSkewGradAccumulates(t *testing.T) {
	// dq with known entries: dv_k = dq[r][c] − dq[c][r], added to dv.
	b := 3
	dq := []float32{
		0, 1, 2,
		10, 0, 3,
		20, 30, 0,
	}
	dv := []float32{100, 100, 100}
	SkewGrad(dq, b, dv)
	want := []float32{100 + 1 - 10, 100 + 2 - 20, 100 + 3 - 30}
	if !slices.Equal(dv, want) {
		t.Errorf("SkewGrad = %v, want %v", dv, want)
	}
}

func TestBlockSizeFromParams(t *testing.T) {
	for _, tc := range []struct {
		cols, b int
		ok      bool
	}{
		{1, 2, true}, {3, 3, true}, {6, 4, true}, {120, 16, true}, {496, 32, true},
		{2016, 64, true}, {8128, 128, true},
		{0, 0, false}, {-3, 0, false}, {2, 0, false}, {121, 0, false}, {119, 0, false}, {4, 0, false},
	} {
		b, err := BlockSizeFromParams(tc.cols)
		if tc.ok && (err != nil || b != tc.b) {
			t.Errorf("BlockSizeFromParams(%d) = %d, %v; want %d", tc.cols, b, err, tc.b)
		}
		if !tc.ok && err == nil {
			t.Errorf("BlockSizeFromParams(%d) = %d, want an error", tc.cols, b)
		}
		if tc.ok && NumParams(tc.b) != tc.cols {
			t.Errorf("NumParams(%d) = %d, want %d", tc.b, NumParams(tc.b), tc.cols)
		}
	}
	for b := 2; b <= 300; b++ {
		if got, err := BlockSizeFromParams(NumParams(b)); err != nil || got != b {
			t.Fatalf("BlockSizeFromParams(NumParams(%d)) = %d, %v", b, got, err)
		}
	}
}

func TestSkewNorm(t *testing.T) {
	v := []float32{3, 4} // two packed values: Q holds ±3 and ±4
	if got, want := SkewNorm(v), math.Sqrt(2*25); math.Abs(got-want) > 1e-12 {
		t.Errorf("SkewNorm = %v, want %v", got, want)
	}
	q := make([]float32, 9)
	UnpackSkew([]float32{1, -2, 0.5}, 3, q)
	var ss float64
	for _, x := range q {
		ss += float64(x) * float64(x)
	}
	if got := SkewNorm([]float32{1, -2, 0.5}); math.Abs(got-math.Sqrt(ss)) > 1e-12 {
		t.Errorf("SkewNorm %v, Frobenius of the unpacked matrix %v", got, math.Sqrt(ss))
	}
}
