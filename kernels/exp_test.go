package kernels

import (
	"math"
	"testing"
)

// ulpDiff is the distance in float32 units in the last place between got
// and the correctly rounded want.
func ulpDiff(got float32, want float64) float64 {
	w := float32(want)
	if got == w {
		return 0
	}
	ulp := math.Nextafter32(w, float32(math.Inf(1))) - w
	return math.Abs(float64(got)-want) / float64(ulp)
}

// TestExpAccuracy sweeps every float32 in the normal-result range with a
// fixed stride (about 4 million inputs) and checks the error bound Exp
// documents.
func TestExpAccuracy(t *testing.T) {
	worst, at := 0.0, float32(0)
	lo, hi := float32(-87.33), float32(88.72)
	for b := math.Float32bits(lo); ; b -= 251 { // negative floats: bits grow as values fall
		x := math.Float32frombits(b)
		if x > 0 {
			break
		}
		if d := ulpDiff(Exp(x), math.Exp(float64(x))); d > worst {
			worst, at = d, x
		}
		if b < 251 {
			break
		}
	}
	for b := uint32(0); ; b += 251 {
		x := math.Float32frombits(b)
		if x > hi {
			break
		}
		if d := ulpDiff(Exp(x), math.Exp(float64(x))); d > worst {
			worst, at = d, x
		}
	}
	if worst > 2 {
		t.Errorf("worst error %.2f ulp at x = %g, want ≤ 2", worst, at)
	}
	t.Logf("worst error %.3f ulp at x = %g", worst, at)
}

func TestExpSpecialValues(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, tc := range []struct{ x, want float32 }{
		{0, 1}, {1, float32(math.E)}, {-1, float32(1 / math.E)},
		{89, inf}, {inf, inf}, {1000, inf},
		{-88, 0}, {-1000, 0}, {float32(math.Inf(-1)), 0},
		{88.72, float32(math.Exp(float64(float32(88.72))))}, {-87.3, float32(math.Exp(float64(float32(-87.3))))},
	} {
		if got := Exp(tc.x); got != tc.want && ulpDiff(got, float64(tc.want)) > 2 {
			t.Errorf("Exp(%g) = %g, want %g", tc.x, got, tc.want)
		}
	}
	if got := Exp(float32(math.NaN())); got == got {
		t.Errorf("Exp(NaN) = %g, want NaN", got)
	}
}

// TestExpSliceMatchesExp checks the inlined fast path against Exp over
// the whole finite range, edges, infinities and NaN included, at every
// alignment of the unrolled loop.
func TestExpSliceMatchesExp(t *testing.T) {
	var src []float32
	for x := float32(-100); x < 100; x += 0.0137 {
		src = append(src, x)
	}
	src = append(src, 88.37, 88.38, 88.72, -87.33, -87.34, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 0)
	dst := make([]float32, len(src))
	for off := range 4 {
		ExpSlice(dst[off:], src[off:], 0)
		for i := off; i < len(src); i++ {
			want := Exp(src[i])
			if got := dst[i]; got != want && !(got != got && want != want) {
				if d := ulpDiff(got, math.Exp(float64(src[i]))); d > 2 {
					t.Fatalf("ExpSlice at %g = %g, Exp = %g (%.2f ulp from exact)", src[i], got, want, d)
				}
			}
		}
	}
}

func TestExpSlice(t *testing.T) {
	src := []float32{-3, -1, 0, 0.5, 2, -50, 7}
	dst := make([]float32, len(src))
	sum := ExpSlice(dst, src, -2)
	var want float64
	for i, x := range src {
		e := Exp(x - 2)
		if dst[i] != e {
			t.Errorf("dst[%d] = %g, want %g", i, dst[i], e)
		}
		want += float64(e)
	}
	if math.Abs(sum-want) > 1e-6*want {
		t.Errorf("sum %g, want %g", sum, want)
	}
}

func BenchmarkExp(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i%200)/10 - 15
	}
	dst := make([]float32, len(x))
	b.Run("kernels.Exp", func(b *testing.B) {
		for b.Loop() {
			ExpSlice(dst, x, 0)
		}
		b.ReportMetric(float64(b.N*len(x))/b.Elapsed().Seconds()/1e6, "Mexp/s")
	})
	b.Run("math.Exp", func(b *testing.B) {
		for b.Loop() {
			for i, v := range x {
				dst[i] = float32(math.Exp(float64(v)))
			}
		}
		b.ReportMetric(float64(b.N*len(x))/b.Elapsed().Seconds()/1e6, "Mexp/s")
	})
}

func TestMax(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		x    []float32
		want float32
	}{
		{nil, float32(math.Inf(-1))},
		{[]float32{3}, 3},
		{[]float32{1, 5, 2, 9, 4, -1, 7}, 9},
		{[]float32{-5, -3, -8, -4, -6}, -3},
		{[]float32{1, 2, 3, 4, 5, 6, 7, 8, 100}, 100},
		{[]float32{1, inf, 2}, inf},
		{[]float32{1, 2, 3, 4, nan, 6}, nan},
		{[]float32{1, 2, 3, 4, 5, nan}, nan},
		{[]float32{nan}, nan},
	} {
		got := Max(tc.x)
		if got != tc.want && !(got != got && tc.want != tc.want) {
			t.Errorf("Max(%v) = %g, want %g", tc.x, got, tc.want)
		}
	}
}

func TestSigmoid(t *testing.T) {
	src := []float32{-100, -30, -5, -1, 0, 0.5, 3, 20, 90, 200, float32(math.Inf(1)), float32(math.Inf(-1))}
	dst := make([]float32, len(src))
	Sigmoid(dst, src)
	for i, x := range src {
		want := 1 / (1 + math.Exp(-float64(x)))
		if d := math.Abs(float64(dst[i]) - want); d > 2e-7*math.Max(want, 1e-30) && d > 1e-38 {
			t.Errorf("Sigmoid(%g) = %g, want %g", x, dst[i], want)
		}
	}
}
