package model_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/gemma3"
	_ "github.com/orthotune/orthotune/model/gpt2"
	_ "github.com/orthotune/orthotune/model/llama"
	_ "github.com/orthotune/orthotune/model/qwen3"
	"github.com/orthotune/orthotune/tensor"
)

// decoderSpecs are every architecture variant internal/testmodel builds,
// plus the options that change which positions attention and RoPE see.
var decoderSpecs = []struct {
	name string
	spec testmodel.Spec
}{
	{"llama grouped-query", testmodel.Spec{ModelType: "llama", Heads: 4, KVHeads: 2}},
	{"llama tied head", testmodel.Spec{ModelType: "llama", Tied: true}},
	{"llama3 rope scaling", testmodel.Spec{ModelType: "llama", Extra: map[string]any{"rope_scaling": map[string]any{
		"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8}}}},
	{"llama linear rope scaling", testmodel.Spec{ModelType: "llama", Extra: map[string]any{"rope_scaling": map[string]any{"type": "linear", "factor": 2.0}}}},
	{"qwen2 qkv bias", testmodel.Spec{ModelType: "qwen2", Heads: 4, KVHeads: 1}},
	{"qwen2 sliding window on layer 1", testmodel.Spec{ModelType: "qwen2", Heads: 4, KVHeads: 2, Extra: map[string]any{
		"use_sliding_window": true, "sliding_window": 4, "max_window_layers": 1}}},
	{"mistral sliding window", testmodel.Spec{ModelType: "mistral", SlidingWindow: 3}},
	{"qwen3 grouped-query", testmodel.Spec{ModelType: "qwen3", Heads: 4, KVHeads: 2}},
	{"qwen3 tied head, attention bias", testmodel.Spec{ModelType: "qwen3", Tied: true, AttentionBias: true}},
	{"qwen3 sliding window from layer 1", testmodel.Spec{ModelType: "qwen3", Heads: 4, KVHeads: 1, Extra: map[string]any{
		"use_sliding_window": true, "sliding_window": 4, "max_window_layers": 1}}},
	{"qwen3 layer_types", testmodel.Spec{ModelType: "qwen3", Layers: 3, Extra: map[string]any{
		"use_sliding_window": true, "sliding_window": 3, "layer_types": []string{"sliding_attention", "full_attention", "sliding_attention"}}}},
	{"gemma3 sliding and full layers", testmodel.Spec{ModelType: "gemma3_text", Heads: 4, KVHeads: 1, Layers: 3}},
	{"gemma3 softcap, linear rope scaling, layer types", testmodel.Spec{ModelType: "gemma3_text", Heads: 2, Layers: 3, SlidingWindow: 3,
		Extra: map[string]any{"final_logit_softcapping": 3.0, "rope_scaling": map[string]any{"rope_type": "linear", "factor": 4.0},
			"layer_types": []string{"sliding_attention", "sliding_attention", "full_attention"}}}},
	{"gpt2", testmodel.Spec{ModelType: "gpt2"}},
	{"gpt2 without prefix", testmodel.Spec{ModelType: "gpt2", NoPrefix: true}},
}

func loadDecoder(t testing.TB, spec testmodel.Spec) (model.CausalLM, model.Decoder) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "m")
	if _, err := testmodel.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := m.(model.Decoder)
	if !ok {
		t.Fatalf("%T does not implement model.Decoder", m)
	}
	return m, d
}

func randomIDs(rng *tensor.RNG, batch, seq, vocab int) [][]int {
	ids := make([][]int, batch)
	for b := range ids {
		ids[b] = make([]int, seq)
		for i := range ids[b] {
			ids[b][i] = rng.IntN(vocab)
		}
	}
	return ids
}

// columns returns ids[b][lo:hi] for every row b.
func columns(ids [][]int, lo, hi int) [][]int {
	out := make([][]int, len(ids))
	for b, row := range ids {
		out[b] = row[lo:hi]
	}
	return out
}

// compareRows checks logits [batch, n, vocab] of a step against positions
// lo … lo+n−1 of the full forward's logits and returns max |Δ|.
func compareRows(t *testing.T, full, step *tensor.Tensor, lo int) float64 {
	t.Helper()
	batch, seq, vocab := full.Shape[0], full.Shape[1], full.Shape[2]
	if len(step.Shape) != 3 || step.Shape[0] != batch || step.Shape[2] != vocab || lo+step.Shape[1] > seq {
		t.Fatalf("step logits have shape %v, full forward %v, step starts at %d", step.Shape, full.Shape, lo)
	}
	n := step.Shape[1]
	worst := 0.0
	for b := range batch {
		want := full.Data[(b*seq+lo)*vocab : (b*seq+lo+n)*vocab]
		got := step.Data[b*n*vocab : (b+1)*n*vocab]
		worst = max(worst, tensor.MaxAbsDiff(want, got))
	}
	return worst
}

func maxAbsValue(x []float32) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, float64(max(v, -v)))
	}
	return m
}

// TestStepMatchesForward: for every architecture, running a sequence
// through the cache — a prefill then one token at a time, or in uneven
// chunks, one row or several — gives the logits of the full forward over
// the whole sequence, position by position.
func TestStepMatchesForward(t *testing.T) {
	const seq = 13 // longer than every sliding window above
	for _, tc := range decoderSpecs {
		t.Run(tc.name, func(t *testing.T) {
			m, dec := loadDecoder(t, tc.spec)
			rng := tensor.NewRNG(11)
			worst := 0.0 // max |Δ| / max |logit| over every run
			defer func() { t.Logf("max |Δ| / max |logit| = %.2g", worst) }()
			for _, run := range []struct {
				name   string
				batch  int
				chunks []int // tokens per step, summing to seq
			}{
				{"prefill 5 then single steps", 1, []int{5, 1, 1, 1, 1, 1, 1, 1, 1}},
				{"single steps from the start", 1, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
				{"uneven chunks", 1, []int{3, 4, 1, 2, 3}},
				{"whole sequence at once", 1, []int{13}},
				{"batch 3, prefill 4 then single steps", 3, []int{4, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
				{"batch 2, chunks", 2, []int{2, 5, 6}},
			} {
				t.Run(run.name, func(t *testing.T) {
					ids := randomIDs(rng, run.batch, seq, m.Info().Vocab)
					full, err := m.Forward(ids)
					if err != nil {
						t.Fatal(err)
					}
					tol := 1e-5 * maxAbsValue(full.Data)
					cache := dec.NewCache(run.batch, seq)
					pos := 0
					for _, n := range run.chunks {
						logits, err := dec.Step(columns(ids, pos, pos+n), cache)
						if err != nil {
							t.Fatalf("step at %d: %v", pos, err)
						}
						d := compareRows(t, full, logits, pos)
						worst = max(worst, d/maxAbsValue(full.Data))
						if d > tol {
							t.Errorf("positions %d…%d: max |Δ| = %.3g against the full forward, tolerance %.3g", pos, pos+n-1, d, tol)
						}
						pos += n
						if cache.Len() != pos {
							t.Fatalf("cache.Len() = %d after %d positions", cache.Len(), pos)
						}
					}
					if pos != seq {
						t.Fatalf("chunks cover %d positions, want %d", pos, seq)
					}
				})
			}
		})
	}
}

// TestStepResetAndForwardUnchanged: a reset cache starts a new sequence
// from position 0, and stepping does not change what Forward computes.
func TestStepResetAndForwardUnchanged(t *testing.T) {
	for _, tc := range decoderSpecs {
		t.Run(tc.name, func(t *testing.T) {
			m, dec := loadDecoder(t, tc.spec)
			rng := tensor.NewRNG(5)
			a, b := randomIDs(rng, 1, 6, m.Info().Vocab), randomIDs(rng, 1, 6, m.Info().Vocab)
			before, err := m.Forward(b)
			if err != nil {
				t.Fatal(err)
			}
			cache := dec.NewCache(1, 6)
			if _, err := dec.Step(a, cache); err != nil {
				t.Fatal(err)
			}
			cache.Reset()
			if cache.Len() != 0 {
				t.Fatalf("Len() = %d after Reset", cache.Len())
			}
			got, err := dec.Step(b, cache)
			if err != nil {
				t.Fatal(err)
			}
			after, err := m.Forward(b)
			if err != nil {
				t.Fatal(err)
			}
			if d := tensor.MaxAbsDiff(before.Data, after.Data); d != 0 {
				t.Errorf("Forward changed by %.3g after Step calls", d)
			}
			if d, tol := compareRows(t, before, got, 0), 1e-5*maxAbsValue(before.Data); d > tol {
				t.Errorf("after Reset: max |Δ| = %.3g against the full forward, tolerance %.3g", d, tol)
			}
		})
	}
}

// TestStepErrors: bad ids, a batch other than the cache's, a full cache, a
// foreign cache and (GPT-2) positions past n_positions are errors that name
// the problem and leave the cache usable.
func TestStepErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec testmodel.Spec
	}{
		{"llama", testmodel.Spec{ModelType: "llama", Heads: 4, KVHeads: 2, Positions: 8}},
		{"gpt2", testmodel.Spec{ModelType: "gpt2", Positions: 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, dec := loadDecoder(t, tc.spec)
			vocab := m.Info().Vocab
			_, other := loadDecoder(t, testmodel.Spec{ModelType: "llama", Layers: 3})
			for _, bad := range []struct {
				name  string
				ids   [][]int
				cache func() model.Cache
				want  string
				full  bool
			}{
				{"id past vocabulary", [][]int{{1, vocab}}, func() model.Cache { return dec.NewCache(1, 4) }, "input_ids[0][1]", false},
				{"negative id", [][]int{{-1}}, func() model.Cache { return dec.NewCache(1, 4) }, "input_ids[0][0]", false},
				{"no rows", nil, func() model.Cache { return dec.NewCache(1, 4) }, "empty", false},
				{"empty row", [][]int{{}}, func() model.Cache { return dec.NewCache(1, 4) }, "input_ids[0] is empty", false},
				{"ragged rows", [][]int{{1, 2}, {3}}, func() model.Cache { return dec.NewCache(2, 4) }, "input_ids[1]", false},
				{"batch mismatch", [][]int{{1}, {2}}, func() model.Cache { return dec.NewCache(1, 4) }, "cache was made for 1", false},
				{"zero batch cache", [][]int{{1}}, func() model.Cache { return dec.NewCache(0, 4) }, "cache was made for 0", false},
				{"cache full", [][]int{{1, 2, 3, 4, 5}}, func() model.Cache { return dec.NewCache(1, 4) }, "exceed the cache's 4", true},
				{"zero length cache", [][]int{{1}}, func() model.Cache { return dec.NewCache(1, 0) }, "exceed the cache's 0", true},
				{"another model's cache", [][]int{{1}}, func() model.Cache { return other.NewCache(1, 4) }, "another model", false},
				{"nil cache", [][]int{{1}}, func() model.Cache { return nil }, "not made by this model", false},
			} {
				t.Run(bad.name, func(t *testing.T) {
					c := bad.cache()
					_, err := dec.Step(bad.ids, c)
					if err == nil || !strings.Contains(err.Error(), bad.want) {
						t.Fatalf("error %v, want one containing %q", err, bad.want)
					}
					if got := errors.Is(err, model.ErrCacheFull); got != bad.full {
						t.Errorf("errors.Is(err, ErrCacheFull) = %v", got)
					}
					if c != nil && c.Len() != 0 {
						t.Errorf("failed step left %d positions in the cache", c.Len())
					}
				})
			}
			// A failed step leaves the cache usable: fill it exactly.
			c := dec.NewCache(1, 8)
			if _, err := dec.Step([][]int{{1, 2, 3, 4, 5}}, c); err != nil {
				t.Fatal(err)
			}
			if _, err := dec.Step([][]int{{1, 2, 3, 4}}, c); !errors.Is(err, model.ErrCacheFull) {
				t.Fatalf("overflowing step: error %v, want ErrCacheFull", err)
			}
			if _, err := dec.Step([][]int{{1, 2, 3}}, c); err != nil || c.Len() != 8 {
				t.Fatalf("step that fits: error %v, Len %d", err, c.Len())
			}
		})
	}
	t.Run("gpt2 past n_positions", func(t *testing.T) {
		_, dec := loadDecoder(t, testmodel.Spec{ModelType: "gpt2", Positions: 8})
		c := dec.NewCache(1, 20)
		if _, err := dec.Step([][]int{{1, 2, 3, 4, 5, 6}}, c); err != nil {
			t.Fatal(err)
		}
		_, err := dec.Step([][]int{{1, 2, 3}}, c)
		if err == nil || !strings.Contains(err.Error(), "n_positions 8") {
			t.Fatalf("error %v, want one naming n_positions 8", err)
		}
		if c.Len() != 6 {
			t.Errorf("failed step changed Len to %d", c.Len())
		}
	})
	t.Run("llama past max_position_embeddings", func(t *testing.T) {
		// Forward accepts any length (RoPE is defined everywhere), so Step
		// does too: only the cache bounds it.
		m, dec := loadDecoder(t, testmodel.Spec{ModelType: "llama", Positions: 4})
		ids := randomIDs(tensor.NewRNG(2), 1, 7, m.Info().Vocab)
		full, err := m.Forward(ids)
		if err != nil {
			t.Fatal(err)
		}
		c := dec.NewCache(1, 7)
		if _, err := dec.Step(columns(ids, 0, 6), c); err != nil {
			t.Fatal(err)
		}
		got, err := dec.Step(columns(ids, 6, 7), c)
		if err != nil {
			t.Fatal(err)
		}
		if d, tol := compareRows(t, full, got, 6), 1e-5*maxAbsValue(full.Data); d > tol {
			t.Errorf("max |Δ| = %.3g, tolerance %.3g", d, tol)
		}
	})
}
