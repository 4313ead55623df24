package plot

import (
	"math"
	"math/rand"
	"strconv"
	"testing"
)

func labels(a axis) []string {
	var s []string
	for _, t := range a.ticks {
		s = append(s, t.label)
	}
	return s
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLinearAxis(t *testing.T) {
	tests := []struct {
		lo, hi float64
		target int
		want   []string
	}{
		{0, 2000, 8, []string{"0", "500", "1000", "1500", "2000"}}, // 250 → 500
		{0, 2200, 3, []string{"0", "1000", "2000", "3000"}},        // 733 → 1000
		{0, 2200, 2, []string{"0", "2000", "4000"}},                // 1100 → 2000
		{900, 3100, 3, []string{"0", "2000", "4000"}},              // 1000 would need 0..4000 in 4 intervals
		{1.17, 4.73, 7, []string{"1", "2", "3", "4", "5"}},         // 3.56/7 > 0.5
		{1.17, 4.73, 8, []string{"1", "1.5", "2", "2.5", "3", "3.5", "4", "4.5", "5"}},
		{-0.5, 0.5, 2, []string{"-0.5", "0", "0.5"}},
		{-0.4, 0.3, 1, []string{"-0.5", "0", "0.5"}}, // one interval cannot cover both signs
		{0.1, 0.3, 2, []string{"0.1", "0.2", "0.3"}},
		{0.15, 0.35, 2, []string{"0", "0.2", "0.4"}},                 // 0.1 would need 3
		{0.1, 0.3, 4, []string{"0.1", "0.15", "0.2", "0.25", "0.3"}}, // exact decimals, no 0.30000000000000004
		{2.1, 2.4, 6, []string{"2.1", "2.15", "2.2", "2.25", "2.3", "2.35", "2.4"}},
		{-7.3, -2.2, 5, []string{"-8", "-6", "-4", "-2"}},
		{0, 5e7, 5, []string{"0", "1e7", "2e7", "3e7", "4e7", "5e7"}},
		{0, 3e-6, 3, []string{"0", "1e-6", "2e-6", "3e-6"}},
		{0, 3e-5, 3, []string{"0", "0.00001", "0.00002", "0.00003"}},
		{0, 3e-7, 3, []string{"0", "1e-7", "2e-7", "3e-7"}},
		{1e6, 1.0000004e6, 4, []string{"1000000", "1000000.1", "1000000.2", "1000000.3", "1000000.4"}},
	}
	for _, tt := range tests {
		got := linearAxis(tt.lo, tt.hi, tt.target)
		if !equalStrings(labels(got), tt.want) {
			t.Errorf("linearAxis(%g, %g, %d) = %q, want %q", tt.lo, tt.hi, tt.target, labels(got), tt.want)
		}
	}
}

// niceStep returns the 1, 2 or 5 times a power of ten that s, measured as
// a difference of ticks, is close to, or false.
func niceStep(s float64) (float64, bool) {
	e := math.Floor(math.Log10(s))
	m := s / math.Pow(10, e)
	for _, n := range []float64{1, 2, 5, 10} {
		if math.Abs(m-n) < 1e-6*n {
			return n * math.Pow(10, e), true
		}
	}
	return 0, false
}

// Random ranges: the ticks are evenly spaced by a 1-2-5 step, are
// multiples of it, cover the range with no more than target intervals,
// and are the tightest such cover.
func TestLinearAxisProperties(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for i := 0; i < 5000; i++ {
		scale := math.Pow(10, float64(r.Intn(40)-20))
		lo := (r.Float64()*2 - 1) * scale
		hi := lo + r.Float64()*scale*math.Pow(10, float64(-r.Intn(4)))
		if !(hi > lo) || hi-lo < math.Max(math.Abs(lo), math.Abs(hi))*1e-9 {
			continue
		}
		target := 2 + r.Intn(9)
		a := linearAxis(lo, hi, target)
		n := len(a.ticks)
		if n < 2 || n-1 > target {
			t.Fatalf("[%g, %g] target %d: %d ticks %q", lo, hi, target, n, labels(a))
		}
		step, ok := niceStep(a.ticks[1].value - a.ticks[0].value)
		if !ok {
			t.Fatalf("[%g, %g]: step %g is not 1, 2 or 5 × 10^k (%q)", lo, hi, step, labels(a))
		}
		for j, tk := range a.ticks {
			if k := tk.value / step; math.Abs(k-math.Round(k)) > 1e-6+math.Abs(k)*1e-12 {
				t.Fatalf("[%g, %g]: tick %g is not a multiple of the step %g", lo, hi, tk.value, step)
			}
			if j > 0 && math.Abs(tk.value-a.ticks[j-1].value-step) > 1e-6*step+1e-15*math.Abs(tk.value) {
				t.Fatalf("[%g, %g]: ticks not evenly spaced: %q", lo, hi, labels(a))
			}
			if v, err := strconv.ParseFloat(tk.label, 64); err != nil || math.Abs(v-tk.value) > 1e-9*step {
				t.Fatalf("[%g, %g]: label %q does not read as the value %g", lo, hi, tk.label, tk.value)
			}
		}
		eps := 1e-8 * step
		if a.lo > lo+eps || a.hi < hi-eps {
			t.Fatalf("[%g, %g]: axis [%g, %g] does not cover the data", lo, hi, a.lo, a.hi)
		}
		if a.lo <= lo-step+eps || a.hi >= hi+step-eps {
			t.Fatalf("[%g, %g]: axis [%g, %g] is wider than one step beyond the data", lo, hi, a.lo, a.hi)
		}
	}
}

func TestLogAxis(t *testing.T) {
	tests := []struct {
		lo, hi    float64
		target    int
		want      []string
		wantMinor int
	}{
		{1.2, 4.7, 7, []string{"1", "2", "3", "4", "5"}, 0},                                                         // mantissas 1..9
		{1.8, 11, 7, []string{"1", "2", "5", "10", "20"}, 6},                                                        // 1..9 gives 11 ticks: 1-2-5
		{1.5, 350, 5, []string{"1", "10", "100", "1000"}, 24},                                                       // 1-2-5 gives 10: decades
		{1e-6, 1e3, 9, []string{"1e-6", "0.00001", "0.0001", "0.001", "0.01", "0.1", "1", "10", "100", "1000"}, 72}, // ten decades in nine intervals
		{1.25, 5, 7, []string{"1", "2", "3", "4", "5"}, 0},
		{2.1, 2.4, 6, []string{"2.1", "2.15", "2.2", "2.25", "2.3", "2.35", "2.4"}, 0}, // narrower than 2..3: linear ticks
		{0.02, 0.9, 6, []string{"0.02", "0.05", "0.1", "0.2", "0.5", "1"}, 12},
	}
	for _, tt := range tests {
		got := logAxis(tt.lo, tt.hi, tt.target)
		if !equalStrings(labels(got), tt.want) || len(got.minor) != tt.wantMinor {
			t.Errorf("logAxis(%g, %g, %d) = %q with %d minor lines, want %q with %d", tt.lo, tt.hi, tt.target, labels(got), len(got.minor), tt.want, tt.wantMinor)
		}
		if !got.log {
			t.Errorf("logAxis(%g, %g) is not marked logarithmic", tt.lo, tt.hi)
		}
	}
	// More decades than the target allows: every other decade, aligned.
	got := logAxis(1e-6, 1e3, 5)
	if want := []string{"1e-6", "0.0001", "0.01", "1", "100", "10000"}; !equalStrings(labels(got), want) {
		t.Errorf("logAxis(1e-6, 1e3, 5) = %q, want %q", labels(got), want)
	}
}

func TestLogAxisCoversRange(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 3000; i++ {
		lo := math.Pow(10, r.Float64()*40-20)
		hi := lo * math.Pow(10, r.Float64()*r.Float64()*12)
		if hi/lo < 1+1e-6 {
			continue
		}
		target := 2 + r.Intn(9)
		a := logAxis(lo, hi, target)
		if a.lo <= 0 || a.lo > lo*(1+1e-8) || a.hi < hi*(1-1e-8) {
			t.Fatalf("logAxis(%g, %g, %d) = [%g, %g] %q does not cover the data", lo, hi, target, a.lo, a.hi, labels(a))
		}
		for j := 1; j < len(a.ticks); j++ {
			if !(a.ticks[j].value > a.ticks[j-1].value) {
				t.Fatalf("logAxis(%g, %g): ticks not increasing: %q", lo, hi, labels(a))
			}
		}
		for _, v := range a.minor {
			if v <= a.lo || v >= a.hi {
				t.Fatalf("logAxis(%g, %g): minor line %g outside [%g, %g]", lo, hi, v, a.lo, a.hi)
			}
		}
	}
}

func TestDecimalLabel(t *testing.T) {
	tests := []struct {
		n    int64
		exp  int
		want string
	}{
		{0, 5, "0"},
		{0, -3, "0"},
		{1, 0, "1"},
		{25, -1, "2.5"},
		{-25, -1, "-2.5"},
		{5, -3, "0.005"},
		{150, -2, "1.5"},
		{3, 2, "300"},
		{9999999, 0, "9999999"},
		{1, 7, "1e7"},
		{15, 6, "1.5e7"},
		{1, -5, "0.00001"},
		{1, -6, "1e-6"},
		{25, -8, "2.5e-7"},
		{-2, 9, "-2e9"},
		{10000001, -1, "1000000.1"},
	}
	for _, tt := range tests {
		if got := decimalLabel(tt.n, tt.exp); got != tt.want {
			t.Errorf("decimalLabel(%d, %d) = %q, want %q", tt.n, tt.exp, got, tt.want)
		}
	}
}
