package tensor

import (
	"math"
	"testing"
)

func TestF16RoundTripEveryPattern(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			if back := F32ToF16(f); back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back := F32ToF16(f); back != uint16(h) {
			t.Fatalf("F16 %#04x -> %v -> %#04x", h, f, back)
		}
	}
}

func TestBF16RoundTripEveryPattern(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := BF16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if back := F32ToBF16(f); back != uint16(h) {
			t.Fatalf("BF16 %#04x -> %v -> %#04x", h, f, back)
		}
	}
}

func TestHalfRounding(t *testing.T) {
	cases := []struct {
		name string
		in   float32
		f16  float32
		bf16 float32
	}{
		{"one", 1, 1, 1},
		{"third", 1.0 / 3, 0.333251953125, 0.333984375},
		{"tie to even f16", 1 + 1.0/2048, 1, 1},
		{"overflow f16", 1e6, float32(math.Inf(1)), 999424},
		{"rounds up to smallest subnormal f16", 3e-8, 5.9604645e-08, 3.0035e-08},
		{"rounds down to zero f16", 2e-8, 0, 2.0023e-08},
		{"negative", -2.5, -2.5, -2.5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := F16ToF32(F32ToF16(c.in)); got != c.f16 {
				t.Errorf("F16 of %v = %v, want %v", c.in, got, c.f16)
			}
			if got := RoundBF16(c.in); math.Abs(float64(got-c.bf16)) > 1e-3*math.Abs(float64(c.bf16)) {
				t.Errorf("BF16 of %v = %v, want %v", c.in, got, c.bf16)
			}
		})
	}
}

func TestNumelOverflowAndNegative(t *testing.T) {
	if _, err := Numel([]int{1 << 40, 1 << 40}); err == nil {
		t.Error("overflowing shape accepted")
	}
	if _, err := Numel([]int{3, -1}); err == nil {
		t.Error("negative dimension accepted")
	}
	if n, err := Numel([]int{2, 0, 5}); err != nil || n != 0 {
		t.Errorf("Numel([2 0 5]) = %d, %v", n, err)
	}
}

func TestReshapeInfer(t *testing.T) {
	x := New(2, 3, 4)
	y := x.Reshape(-1, 4)
	if y.Shape[0] != 6 || &y.Data[0] != &x.Data[0] {
		t.Fatalf("Reshape(-1,4) = %v, shares data %v", y.Shape, &y.Data[0] == &x.Data[0])
	}
}

func TestRNGReproducible(t *testing.T) {
	a := NewRNG(7).Randn(1, 16)
	b := NewRNG(7).Randn(1, 16)
	if MaxAbsDiff(a.Data, b.Data) != 0 {
		t.Fatal("same seed gave different samples")
	}
}

func TestMaxAbsDiff(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		a, b []float32
		want float64
	}{
		{[]float32{1, 2}, []float32{1, 2.5}, 0.5},
		{[]float32{1, nan}, []float32{1, 2}, math.Inf(1)},
		{[]float32{nan}, []float32{nan}, math.Inf(1)},
		{[]float32{inf, 1}, []float32{inf, 1}, 0},
		{[]float32{inf}, []float32{1}, math.Inf(1)},
	} {
		if got := MaxAbsDiff(tc.a, tc.b); got != tc.want {
			t.Errorf("MaxAbsDiff(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestRNGStateRoundTrip(t *testing.T) {
	g := NewRNG(7)
	for range 13 {
		g.Float64()
	}
	state, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{g.Float64(), float64(g.IntN(1000)), float64(g.Randn(1, 3).Data[2])}
	var r RNG
	if err := r.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	got := []float64{r.Float64(), float64(r.IntN(1000)), float64(r.Randn(1, 3).Data[2])}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("draw %d after restore: %v, want %v", i, got[i], want[i])
		}
	}
	if err := r.UnmarshalBinary([]byte("junk")); err == nil {
		t.Fatal("restoring a junk state: no error")
	}
}

func TestArgmax(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	for _, c := range []struct {
		x    []float32
		want int
	}{
		{[]float32{1, 3, 2}, 1},
		{[]float32{2, 5, 5, 1}, 1}, // the lowest on ties
		{[]float32{nan, 1, nan, 0}, 1},
		{[]float32{-inf, -inf}, -1},
		{[]float32{nan}, -1},
		{nil, -1},
		{[]float32{-inf, inf, 4}, 1},
	} {
		if got := Argmax(c.x); got != c.want {
			t.Errorf("Argmax(%v) = %d, want %d", c.x, got, c.want)
		}
	}
}
