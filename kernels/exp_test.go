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

// An expImpl is one implementation of ExpSlice and Sigmoid's loops.
type expImpl struct {
	name     string
	expSlice func(dst, src []float32, shift float32) float64
	sigmoid  func(dst, src []float32)
	max      func(x []float32) float32
}

// expImpls lists the portable loops, the ones this build and CPU chose,
// and (in expImplsMore) any other vector loops the CPU can run.
func expImpls() []expImpl {
	return append([]expImpl{
		{"go", expSliceGo, sigmoidGo, maxGo},
		{"selected(" + vectorExp + ")", expSliceImpl, sigmoidImpl, maxImpl},
	}, expImplsMore...)
}

var expImplsMore []expImpl

// TestExpSliceMatchesExp checks every implementation of ExpSlice against
// Exp over the whole finite range, edges, infinities and NaN included, at
// every alignment of the unrolled and vector loops, and its sum.
func TestExpSliceMatchesExp(t *testing.T) {
	var src []float32
	for x := float32(-100); x < 100; x += 0.0137 {
		src = append(src, x)
	}
	finite := len(src)
	src = append(src, 88.37, 88.38, 88.72, -87.33, -87.34, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 0)
	src = append(src, src[:100]...) // vector blocks after the specials
	dst := make([]float32, len(src))
	for _, impl := range expImpls() {
		t.Run(impl.name, func(t *testing.T) {
			for off := range 8 {
				sum := impl.expSlice(dst[off:], src[off:], 0)
				var want float64
				for i := off; i < len(src); i++ {
					w := Exp(src[i])
					if got := dst[i]; got != w && !(got != got && w != w) {
						if d := ulpDiff(got, math.Exp(float64(src[i]))); d > 2 {
							t.Fatalf("offset %d: at %g got %g, Exp = %g (%.2f ulp from exact)", off, src[i], got, w, d)
						}
					}
					want += float64(w)
				}
				if !math.IsNaN(sum) || !math.IsNaN(want) {
					t.Fatalf("offset %d: sum %g over a NaN, want NaN", off, sum)
				}
			}
			// The sum over finite results, shifted.
			for _, n := range []int{7, 8, 9, 1003, finite} {
				src := src[:n]
				sum := impl.expSlice(dst, src, -1.5)
				var want float64
				for _, x := range src {
					want += float64(Exp(x - 1.5))
				}
				if math.Abs(sum-want) > 1e-6*want+1e-30 { // AVX-512 keeps subnormals
					t.Fatalf("%d values: sum %g, want %g", n, sum, want)
				}
			}
		})
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
	long := make([]float32, 37) // vector blocks and a tail
	for i := range long {
		long[i] = float32((i*17)%37) - 20
	}
	at := func(i int, v float32) []float32 {
		x := append([]float32(nil), long...)
		x[i] = v
		return x
	}
	cases := []struct {
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
		{long, 16},
		{at(0, 99), 99}, {at(13, 99), 99}, {at(36, 99), 99},
		{at(0, nan), nan}, {at(13, nan), nan}, {at(36, nan), nan},
		{at(5, inf), inf},
	}
	for _, impl := range expImpls() {
		for _, tc := range cases {
			got := impl.max(tc.x)
			if got != tc.want && !(got != got && tc.want != tc.want) {
				t.Errorf("%s: Max(%v) = %g, want %g", impl.name, tc.x, got, tc.want)
			}
		}
	}
}

func TestSigmoid(t *testing.T) {
	src := []float32{-100, -30, -5, -1, 0, 0.5, 3, 20, 90, 200, float32(math.Inf(1)), float32(math.Inf(-1)), -88.3, -88.4, 87.3, 87.4}
	for x := float32(-95); x < 95; x += 0.173 {
		src = append(src, x)
	}
	dst := make([]float32, len(src))
	for _, impl := range expImpls() {
		t.Run(impl.name, func(t *testing.T) {
			for off := range 8 {
				impl.sigmoid(dst[off:], src[off:])
				for i := off; i < len(src); i++ {
					x := src[i]
					want := 1 / (1 + math.Exp(-float64(x)))
					if d := math.Abs(float64(dst[i]) - want); d > 2e-7*math.Max(want, 1e-30) && d > 1e-38 {
						t.Fatalf("offset %d: Sigmoid(%g) = %g, want %g", off, x, dst[i], want)
					}
				}
			}
			nan := []float32{1, 2, float32(math.NaN()), 4, 5, 6, 7, 8, 9}
			impl.sigmoid(nan, nan)
			if nan[2] == nan[2] || nan[0] != float32(1/(1+math.Exp(-1))) {
				t.Errorf("Sigmoid over a NaN: %v", nan)
			}
		})
	}
}
