package generate_test

import (
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/generate"
	"github.com/orthotune/orthotune/tensor"
)

var (
	inf = float32(math.Inf(1))
	nan = float32(math.NaN())
)

// logp returns logits whose softmax is probs.
func logp(probs ...float64) []float32 {
	out := make([]float32, len(probs))
	for i, p := range probs {
		out[i] = float32(math.Log(p))
	}
	return out
}

// reference is the sampling distribution written out the slow, obvious
// way: scale, stable-sort by logit (ties by id), cut at the k-th logit
// keeping ties, softmax, cut by cumulative probability, renormalise.
func reference(logits []float32, s generate.Sampler) []float64 {
	out := make([]float64, len(logits))
	var idx []int
	for i, v := range logits {
		if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), -1) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	if s.TopK > 0 && s.TopK < len(idx) {
		kth := logits[idx[s.TopK-1]]
		n := s.TopK
		for n < len(idx) && logits[idx[n]] == kth {
			n++
		}
		idx = idx[:n]
	}
	z := make([]float64, len(idx))
	var sum float64
	for j, i := range idx {
		z[j] = math.Exp(float64(logits[i])/s.Temperature - float64(logits[idx[0]])/s.Temperature)
		sum += z[j]
	}
	keep := len(idx)
	if s.TopP > 0 && s.TopP < 1 {
		cum := 0.0
		for j := range idx {
			if j > 0 && cum >= s.TopP {
				keep = j
				break
			}
			cum += z[j] / sum
		}
	}
	var kept float64
	for j := range keep {
		kept += z[j]
	}
	for j := range keep {
		out[idx[j]] = z[j] / kept
	}
	return out
}

func closeTo(a, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}

// TestGreedy: temperature 0 takes the highest logit, the lowest id on
// ties, never NaN, and reports −1 when nothing can be chosen.
func TestGreedy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		logits []float32
		want   int
	}{
		{"plain", []float32{0.1, 2, -3, 1.9}, 1},
		{"tie takes the lowest id", []float32{1, 3, 0, 3, 3}, 1},
		{"NaN is skipped", []float32{nan, -1, nan, -0.5}, 3},
		{"+Inf wins", []float32{1e30, inf, 2}, 1},
		{"-Inf is never chosen", []float32{float32(math.Inf(-1)), -1e30}, 1},
		{"all NaN", []float32{nan, nan}, -1},
		{"all -Inf", []float32{float32(math.Inf(-1))}, -1},
		{"empty", nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s generate.Sampler
			if got := s.Sample(tc.logits, nil); got != tc.want {
				t.Errorf("Sample = %d, want %d", got, tc.want)
			}
			d := s.Distribution(tc.logits)
			for i, p := range d {
				if want := 0.0; i == tc.want {
					if p != 1 {
						t.Errorf("Distribution[%d] = %g, want 1", i, p)
					}
				} else if p != want {
					t.Errorf("Distribution[%d] = %g, want 0", i, p)
				}
			}
			// A sampling sampler with a nil source falls back to greedy.
			if got := (generate.Sampler{Temperature: 1}).Sample(tc.logits, nil); got != tc.want {
				t.Errorf("nil rng: Sample = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestDistribution: temperature, top-k and top-p cut and renormalise as
// transformers does, in its order; expectations are worked by hand.
func TestDistribution(t *testing.T) {
	third := 1.0 / 3
	for _, tc := range []struct {
		name   string
		s      generate.Sampler
		logits []float32
		want   []float64
	}{
		{"no filter", generate.Sampler{Temperature: 1}, logp(0.5, 0.3, 0.2), []float64{0.5, 0.3, 0.2}},
		{"temperature sharpens", generate.Sampler{Temperature: 0.5}, []float32{0, float32(math.Ln2)}, []float64{0.2, 0.8}},
		{"temperature flattens", generate.Sampler{Temperature: 2}, []float32{0, float32(2 * math.Log(3))}, []float64{0.25, 0.75}},
		{"top-p below the first token keeps it alone", generate.Sampler{Temperature: 1, TopP: 0.4}, logp(0.5, 0.3, 0.2), []float64{1, 0, 0}},
		{"top-p tiny still keeps one", generate.Sampler{Temperature: 1, TopP: 1e-12}, logp(0.2, 0.5, 0.3), []float64{0, 1, 0}},
		{"top-p between first and second sum", generate.Sampler{Temperature: 1, TopP: 0.75}, logp(0.5, 0.3, 0.2), []float64{0.625, 0.375, 0}},
		{"top-p just above the first two", generate.Sampler{Temperature: 1, TopP: 0.81}, logp(0.5, 0.3, 0.2), []float64{0.5, 0.3, 0.2}},
		{"top-p just below the first two", generate.Sampler{Temperature: 1, TopP: 0.79}, logp(0.5, 0.3, 0.2), []float64{0.625, 0.375, 0}},
		{"top-p exactly the first token", generate.Sampler{Temperature: 1, TopP: 0.5}, []float32{0, 0}, []float64{1, 0}},
		{"top-p 1 keeps all", generate.Sampler{Temperature: 1, TopP: 1}, logp(0.9, 0.05, 0.05), []float64{0.9, 0.05, 0.05}},
		{"top-p tie at the cut keeps the lower id", generate.Sampler{Temperature: 1, TopP: 0.6}, logp(0.3, 0.4, 0.3), []float64{3.0 / 7, 4.0 / 7, 0}},
		{"top-p unordered ids", generate.Sampler{Temperature: 1, TopP: 0.7}, logp(0.1, 0.2, 0.4, 0.3), []float64{0, 0, 4.0 / 7, 3.0 / 7}},
		{"top-k", generate.Sampler{Temperature: 1, TopK: 2}, logp(0.1, 0.4, 0.2, 0.3), []float64{0, 4.0 / 7, 0, 3.0 / 7}},
		{"top-k keeps ties with the k-th", generate.Sampler{Temperature: 1, TopK: 2}, []float32{1, 2, 2, 2, 0}, []float64{0, third, third, third, 0}},
		{"top-k larger than vocab", generate.Sampler{Temperature: 1, TopK: 10}, logp(0.5, 0.5), []float64{0.5, 0.5}},
		{"top-k 1", generate.Sampler{Temperature: 3, TopK: 1}, []float32{0.3, -1, 0.31, 0.2}, []float64{0, 0, 1, 0}},
		// Top-k first: renormalised 4/7, 3/7, so top-p 0.5 keeps one. Top-p
		// first would keep 0.4 and 0.3.
		{"top-k before top-p", generate.Sampler{Temperature: 1, TopK: 2, TopP: 0.5}, logp(0.4, 0.3, 0.2, 0.1), []float64{1, 0, 0, 0}},
		{"top-k and top-p both cut", generate.Sampler{Temperature: 1, TopK: 3, TopP: 0.7}, logp(0.4, 0.3, 0.2, 0.1), []float64{4.0 / 7, 3.0 / 7, 0, 0}},
		{"NaN and -Inf get nothing", generate.Sampler{Temperature: 1}, []float32{0, nan, float32(math.Inf(-1)), 0}, []float64{0.5, 0, 0, 0.5}},
		{"+Inf logits share everything", generate.Sampler{Temperature: 0.7}, []float32{1, inf, 3, inf}, []float64{0, 0.5, 0, 0.5}},
		{"all NaN", generate.Sampler{Temperature: 1}, []float32{nan, nan}, []float64{0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.s.Distribution(tc.logits)
			if !closeTo(got, tc.want, 1e-6) {
				t.Errorf("Distribution = %v, want %v", got, tc.want)
			}
			none := true
			for _, p := range tc.want {
				none = none && p == 0
			}
			rng := tensor.NewRNG(3)
			for range 50 {
				switch id := tc.s.Sample(tc.logits, rng); {
				case id < 0 && !none:
					t.Fatalf("Sample = %d for a row with choices", id)
				case id >= 0 && (none || tc.want[id] == 0):
					t.Fatalf("Sample = %d, a token the filters remove", id)
				}
			}
		})
	}
}

// TestDistributionMatchesReference: on random logits with many ties and
// settings, the sampler's distribution equals the written-out reference.
func TestDistributionMatchesReference(t *testing.T) {
	rng := tensor.NewRNG(9)
	for trial := range 300 {
		v := 1 + rng.IntN(40)
		logits := make([]float32, v)
		for i := range logits {
			logits[i] = float32(rng.IntN(9)-4) * 0.7 // coarse values: ties are common
		}
		s := generate.Sampler{Temperature: 0.3 + 2*rng.Float64(), TopK: rng.IntN(v + 2)}
		if rng.IntN(3) > 0 {
			s.TopP = rng.Float64()
		}
		if got, want := s.Distribution(logits), reference(logits, s); !closeTo(got, want, 1e-9) {
			t.Fatalf("trial %d, %+v, logits %v:\n got %v\nwant %v", trial, s, logits, got, want)
		}
	}
}

// TestSampleFrequencies: many draws follow the filtered, renormalised
// distribution (Pearson's χ² far below its 10⁻⁶ tail) and never pick a
// removed token.
func TestSampleFrequencies(t *testing.T) {
	logits := []float32{1.2, -0.3, 0.8, 2.0, 0.1, -1.5, 1.9, 0.5, -0.2, 1.0}
	for _, s := range []generate.Sampler{
		{Temperature: 1},
		{Temperature: 0.6},
		{Temperature: 1.7, TopK: 6},
		{Temperature: 0.9, TopP: 0.8},
		{Temperature: 1.3, TopK: 7, TopP: 0.9},
	} {
		want := reference(logits, s)
		const draws = 60000
		counts := make([]int, len(logits))
		rng := tensor.NewRNG(42)
		for range draws {
			counts[s.Sample(logits, rng)]++
		}
		chi2, df := 0.0, -1
		for i, p := range want {
			if p == 0 {
				if counts[i] != 0 {
					t.Errorf("%+v: token %d drawn %d times though filtered out", s, i, counts[i])
				}
				continue
			}
			e := p * draws
			chi2 += (float64(counts[i]) - e) * (float64(counts[i]) - e) / e
			df++
		}
		// χ² with df ≤ 9 exceeds df + 7·√(2df) + 10 with probability < 10⁻⁶.
		if bound := float64(df) + 7*math.Sqrt(2*float64(df)) + 10; chi2 > bound {
			t.Errorf("%+v: χ² = %.1f over %d degrees of freedom, bound %.1f (counts %v, want %v)", s, chi2, df, bound, counts, want)
		}
		if df < 1 {
			t.Errorf("%+v: only %d tokens kept; the test needs a real choice", s, df+1)
		}
	}
}

// TestSamplerValidate: settings out of range are errors naming them.
func TestSamplerValidate(t *testing.T) {
	for _, tc := range []struct {
		s    generate.Sampler
		want string // "" = valid
	}{
		{generate.Sampler{}, ""},
		{generate.Sampler{Temperature: 0.7, TopK: 40, TopP: 0.95}, ""},
		{generate.Sampler{Temperature: 1, TopP: 1}, ""},
		{generate.Sampler{Temperature: -1}, "temperature"},
		{generate.Sampler{Temperature: math.NaN()}, "temperature"},
		{generate.Sampler{Temperature: math.Inf(1)}, "temperature"},
		{generate.Sampler{TopK: -1}, "top_k"},
		{generate.Sampler{TopP: 1.5}, "top_p"},
		{generate.Sampler{TopP: -0.1}, "top_p"},
		{generate.Sampler{TopP: math.NaN()}, "top_p"},
	} {
		err := tc.s.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: Validate() = %v, want an error naming %q", tc.s, err, tc.want)
		}
	}
}

// FuzzSample: any logits and settings give a token the distribution
// allows (or −1 with an all-zero distribution), a distribution summing to
// 1, and no panic.
func FuzzSample(f *testing.F) {
	f.Add([]byte{0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 192, 127}, 0.8, 2, 0.9, uint64(1))
	f.Add([]byte{0, 0, 128, 127, 0, 0, 128, 255, 0, 0, 0, 0}, 0.0, 0, 0.0, uint64(2))
	f.Add([]byte{}, 1.0, 1, 0.5, uint64(3))
	f.Fuzz(func(t *testing.T, raw []byte, temp float64, topK int, topP float64, seed uint64) {
		logits := make([]float32, len(raw)/4)
		for i := range logits {
			logits[i] = math.Float32frombits(uint32(raw[4*i]) | uint32(raw[4*i+1])<<8 | uint32(raw[4*i+2])<<16 | uint32(raw[4*i+3])<<24)
		}
		s := generate.Sampler{Temperature: temp, TopK: topK, TopP: topP}
		if s.Validate() != nil {
			return
		}
		d := s.Distribution(logits)
		sum := 0.0
		for _, p := range d {
			sum += p
		}
		id := s.Sample(logits, tensor.NewRNG(seed))
		switch {
		case id == -1 && sum != 0:
			t.Fatalf("Sample = -1 but the distribution sums to %g", sum)
		case id >= 0 && (id >= len(logits) || d[id] == 0):
			t.Fatalf("Sample = %d, probability %v", id, d)
		case id >= 0 && math.Abs(sum-1) > 1e-9:
			t.Fatalf("distribution sums to %g", sum)
		}
	})
}
