package nn

import (
	"slices"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/tensor"
)

// gatherRows copies rows b·seq+lo … b·seq+hi−1 of every batch row of x
// (rows of width floats) into a packed [batch·(hi−lo), width] buffer.
func gatherRows(x []float32, batch, seq, width, lo, hi int) []float32 {
	out := make([]float32, 0, batch*(hi-lo)*width)
	for b := range batch {
		out = append(out, x[(b*seq+lo)*width:(b*seq+hi)*width]...)
	}
	return out
}

// TestForwardCached: attention run chunk by chunk through a KV cache gives
// the float64 reference and the full Forward for every query, and leaves
// the probabilities Forward saved for Backward alone.
func TestForwardCached(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		heads, kvHeads, width int
		window                int
		scale                 float32 // 0: 1/√width
		chunks                []int
	}{
		{"multi-head, single steps", 2, 2, 4, 0, 0, []int{1, 1, 1, 1, 1, 1, 1}},
		{"grouped-query, prefill then steps", 4, 2, 4, 0, 0, []int{4, 1, 1, 1}},
		{"multi-query, chunks", 3, 1, 4, 0, 0, []int{2, 3, 2}},
		{"sliding window, steps past it", 2, 1, 4, 2, 0, []int{3, 1, 1, 1, 1}},
		{"sliding window, chunk wider than it", 4, 2, 6, 3, 0, []int{1, 6}},
		{"custom scale", 2, 2, 4, 0, 0.3, []int{5, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := tensor.NewRNG(17)
			batch, seq := 2, 0
			for _, n := range tc.chunks {
				seq += n
			}
			qw, kw := tc.heads*tc.width, tc.kvHeads*tc.width
			q := randTensor(rng, 1, batch*seq, qw).Data
			k := randTensor(rng, 1, batch*seq, kw).Data
			v := randTensor(rng, 1, batch*seq, kw).Data
			a, err := NewAttention(tc.heads, tc.kvHeads, tc.width)
			if err != nil {
				t.Fatal(err)
			}
			a.Window = tc.window
			if tc.scale != 0 {
				a.Scale = tc.scale
			}
			ref := naiveAttention(Strided{q, 0, qw}, Strided{k, 0, kw}, Strided{v, 0, kw}, batch, seq, tc.heads, tc.kvHeads, tc.width, tc.window, float64(a.Scale))
			full := make([]float32, batch*seq*qw)
			a.Forward(Strided{q, 0, qw}, Strided{k, 0, kw}, Strided{v, 0, kw}, batch, seq, full)
			saved := slices.Clone(a.lse)

			c := NewKVCache(3, batch, seq, kw) // layer 1 is the one under test
			pos := 0
			for _, n := range tc.chunks {
				qc := gatherRows(q, batch, seq, qw, pos, pos+n)
				kc, vc := gatherRows(k, batch, seq, kw, pos, pos+n), gatherRows(v, batch, seq, kw, pos, pos+n)
				for l := range 3 {
					c.Append(l, Strided{kc, 0, kw}, Strided{vc, 0, kw}, n)
				}
				out := make([]float32, batch*n*qw)
				a.ForwardCached(Strided{qc, 0, qw}, c, 1, n, out)
				c.Commit(n)
				for b := range batch {
					for i := range n {
						row := (b*seq + pos + i) * qw
						got := out[(b*n+i)*qw : (b*n+i+1)*qw]
						if d := tensor.MaxAbsDiff(got, full[row:row+qw]); d > 1e-6 {
							t.Errorf("row %d position %d: max |Δ| = %.3g against Forward", b, pos+i, d)
						}
						for j, g := range got {
							if d := float64(g) - ref[row+j]; d > 1e-5 || d < -1e-5 {
								t.Fatalf("row %d position %d: %g, float64 reference %g", b, pos+i, g, ref[row+j])
							}
						}
					}
				}
				pos += n
				if c.Len() != pos {
					t.Fatalf("Len() = %d after %d positions", c.Len(), pos)
				}
			}
			if !slices.Equal(saved, a.lse) {
				t.Error("ForwardCached changed the log-sum-exps Forward saved for Backward")
			}
			for b := range batch {
				if got, want := c.Keys(1, b), gatherRows(k, batch, seq, kw, 0, seq)[b*seq*kw:(b+1)*seq*kw]; !slices.Equal(got, want) {
					t.Errorf("row %d: cached keys differ from the keys appended", b)
				}
				if got, want := c.Values(2, b), gatherRows(v, batch, seq, kw, 0, seq)[b*seq*kw:(b+1)*seq*kw]; !slices.Equal(got, want) {
					t.Errorf("row %d: cached values differ from the values appended", b)
				}
			}
		})
	}
}

// TestRoPEApplyAt: rotating rows chunk by chunk at their absolute positions
// equals rotating the whole sequence, bit for bit, in both directions.
func TestRoPEApplyAt(t *testing.T) {
	const heads, hd, seq, batch = 2, 8, 11, 2
	r := &RoPE{HeadDim: hd, InvFreq: DefaultInvFreq(hd, 10000)}
	rng := tensor.NewRNG(4)
	x := randTensor(rng, 1, batch*seq, heads*hd).Data
	for _, inverse := range []bool{false, true} {
		want := slices.Clone(x)
		r.Apply(want, 0, heads*hd, batch*seq, seq, heads, inverse)
		for _, chunks := range [][]int{{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {4, 7}, {11}, {3, 1, 5, 2}} {
			pos := 0
			for _, n := range chunks {
				part := gatherRows(x, batch, seq, heads*hd, pos, pos+n)
				r.ApplyAt(part, 0, heads*hd, batch*n, n, pos, heads, inverse)
				if exp := gatherRows(want, batch, seq, heads*hd, pos, pos+n); !slices.Equal(part, exp) {
					t.Errorf("inverse=%v chunks %v: positions %d…%d differ from Apply", inverse, chunks, pos, pos+n-1)
				}
				pos += n
			}
		}
	}
	// A far position is rotated by pos·invFreq: the first pair turns by
	// 1000 radians.
	one := []float32{1, 0, 0, 0, 0, 0, 0, 0}
	r.ApplyAt(one, 0, hd, 1, 1, 1000, 1, false)
	if c, s := one[0], one[4]; abs64(float64(c)-0.5623790762907029) > 1e-6 || abs64(float64(s)-0.8268795405320025) > 1e-6 {
		t.Errorf("position 1000: (%g, %g), want (cos 1000, sin 1000)", c, s)
	}
}

func abs64(x float64) float64 { return max(x, -x) }

// TestKVCacheMisuse: the cache refuses appends past MaxLen or commits that
// not every layer appended, with messages saying so; Reset empties it.
func TestKVCacheMisuse(t *testing.T) {
	c := NewKVCache(2, 1, 3, 2)
	row := Strided{[]float32{1, 2, 3, 4, 5, 6, 7, 8}, 0, 2}
	mustPanic := func(name, want string, f func()) {
		t.Helper()
		defer func() {
			r := recover()
			if s, _ := r.(string); !strings.Contains(s, want) {
				t.Errorf("%s: panic %v, want one containing %q", name, r, want)
			}
		}()
		f()
	}
	mustPanic("append past MaxLen", "cannot append 4", func() { c.Append(0, row, row, 4) })
	mustPanic("layer out of range", "layer 2 out of range", func() { c.Append(2, row, row, 1) })
	c.Append(0, row, row, 2)
	mustPanic("commit before every layer appended", "layer 1 row 0 holds 0", func() { c.Commit(2) })
	c.Append(1, row, row, 2)
	c.Commit(2)
	if c.Len() != 2 || !slices.Equal(c.Keys(1, 0), []float32{1, 2, 3, 4}) {
		t.Fatalf("Len %d, keys %v", c.Len(), c.Keys(1, 0))
	}
	mustPanic("commit past MaxLen", "cannot commit 2", func() { c.Commit(2) })
	c.Reset()
	if c.Len() != 0 {
		t.Fatalf("Len %d after Reset", c.Len())
	}
	c.Append(0, Strided{[]float32{9, 9}, 0, 2}, row, 1)
	if !slices.Equal(c.Keys(0, 0), []float32{9, 9}) {
		t.Errorf("after Reset, keys %v, want the new position only", c.Keys(0, 0))
	}
	if e := NewKVCache(1, -1, -5, 4); e.Batch() != 0 || e.MaxLen() != 0 {
		t.Errorf("negative sizes: batch %d, MaxLen %d, want 0 and 0", e.Batch(), e.MaxLen())
	}
}

// TestKVCacheWindowForgets: a layer whose cache has a window (SetWindow)
// gives, step after step of 1 to 3 tokens far past the window, exactly the
// outputs of the same layer over a cache that keeps every position, while
// holding at most two windows and a step of positions; Reset starts over.
func TestKVCacheWindowForgets(t *testing.T) {
	const heads, kvHeads, width, window, batch = 4, 2, 4, 5, 2
	qw, kw := heads*width, kvHeads*width
	a, err := NewAttention(heads, kvHeads, width)
	if err != nil {
		t.Fatal(err)
	}
	a.Window = window
	rng := tensor.NewRNG(23)
	steps := []int{3, 1, 2, 1, 1, 3, 1, 2, 2, 1, 1, 1, 3, 2, 1, 1, 2, 3, 1, 1}
	all := NewKVCache(2, batch, 64, kw) // layer 0 keeps everything, layer 1 forgets
	all.SetWindow(1, window)
	for round := range 2 { // the second after Reset, on the same storage
		for _, n := range steps {
			q := randTensor(rng, 1, batch*n, qw).Data
			k := randTensor(rng, 1, batch*n, kw).Data
			v := randTensor(rng, 1, batch*n, kw).Data
			got, want := make([]float32, batch*n*qw), make([]float32, batch*n*qw)
			for layer, out := range [][]float32{want, got} {
				all.Append(layer, Strided{k, 0, kw}, Strided{v, 0, kw}, n)
				a.ForwardCached(Strided{q, 0, qw}, all, layer, n, out)
			}
			all.Commit(n)
			if !slices.Equal(got, want) {
				t.Fatalf("round %d, at %d positions: the windowed cache's outputs differ from the full cache's", round, all.Len())
			}
			if held := len(all.Keys(1, 0)) / kw; held > 2*window+3 {
				t.Fatalf("round %d, at %d positions: the windowed layer holds %d, more than two windows and a step", round, all.Len(), held)
			}
		}
		if all.First(1) == 0 || all.First(0) != 0 {
			t.Errorf("round %d: first positions held %d (full) and %d (windowed)", round, all.First(0), all.First(1))
		}
		all.Reset()
		if all.First(1) != 0 || all.Len() != 0 {
			t.Errorf("after Reset: first %d, length %d", all.First(1), all.Len())
		}
	}
}

// BenchmarkForwardCachedWindow is one decoding step (one new token) of a
// sliding-window layer (window 128, Mistral's layout of 32 heads over 8
// key/value heads of 128) whose cache holds 4096 positions: the step reads
// the window, not the whole cache.
func BenchmarkForwardCachedWindow(b *testing.B) {
	const heads, kvHeads, width, window, held = 32, 8, 128, 128, 4096
	a, err := NewAttention(heads, kvHeads, width)
	if err != nil {
		b.Fatal(err)
	}
	a.Window = window
	kw := kvHeads * width
	c := NewKVCache(1, 1, held+1, kw)
	rng := tensor.NewRNG(3)
	kv := randTensor(rng, 1, held, kw)
	c.Append(0, Strided{kv.Data, 0, kw}, Strided{kv.Data, 0, kw}, held)
	c.Commit(held)
	q, k := randTensor(rng, 1, 1, heads*width), randTensor(rng, 1, 1, kw)
	out := make([]float32, heads*width)
	c.Append(0, Strided{k.Data, 0, kw}, Strided{k.Data, 0, kw}, 1)
	b.ResetTimer()
	for b.Loop() {
		a.ForwardCached(Strided{q.Data, 0, heads * width}, c, 0, 1, out)
	}
}
