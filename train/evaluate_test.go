package train

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/generate"
	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/tensor"
)

// TestEvaluateRefusesNonFiniteLoss: a model whose outputs are not finite
// (a NaN weight) makes Evaluate fail with a message saying so, instead of
// reporting a loss of NaN.
func TestEvaluateRefusesNonFiniteLoss(t *testing.T) {
	f := newFixture(t, "llama")
	m := f.modelFn()
	if _, err := Evaluate(m, batches(f.eval, 4)); err != nil {
		t.Fatalf("a finite model: %v", err)
	}
	m.Params()[0].W.Data[0] = float32(math.NaN())
	_, err := Evaluate(m, batches(f.eval, 4))
	if err == nil || !strings.Contains(err.Error(), "not finite") {
		t.Fatalf("err %v; want the non-finite loss refused", err)
	}
}

// TestEvaluateExactMatch: a row counts as an exact match exactly when
// greedy decoding from its prompt reproduces its completion. Completions
// are the model's own greedy continuations (each must count), and the
// same with one token changed — the first, a middle or the last — (none
// may count); rows of other lengths are padded, and a row without targets
// is not a sequence.
func TestEvaluateExactMatch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	if _, err := testmodel.Write(dir, testmodel.Spec{ModelType: "llama", Heads: 4, KVHeads: 2, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	vocab := m.Info().Vocab
	rng := tensor.NewRNG(9)
	var rows []struct{ ids, labels []int }
	wantExact, wantSeqs := 0, 0
	for i := range 8 {
		prompt := make([]int, 3+i%3)
		for j := range prompt {
			prompt[j] = int(rng.Uint64() % uint64(vocab))
		}
		completion, err := generate.Generate(m.(model.Decoder), prompt, generate.Options{MaxNewTokens: 4})
		if err != nil {
			t.Fatal(err)
		}
		change := []int{-1, 0, 2, 3}[i%4] // -1: keep the greedy answer
		if change >= 0 {
			completion[change] = (completion[change] + 1) % vocab
		} else {
			wantExact++
		}
		wantSeqs++
		ids := append(slices.Clone(prompt), completion...)
		labels := make([]int, len(ids))
		for j := range labels {
			labels[j] = data.IgnoreIndex
			if j >= len(prompt) {
				labels[j] = ids[j]
			}
		}
		rows = append(rows, struct{ ids, labels []int }{ids, labels})
	}
	// A row with no target at all.
	rows = append(rows, struct{ ids, labels []int }{[]int{1, 2, 3}, []int{data.IgnoreIndex, data.IgnoreIndex, data.IgnoreIndex}})
	var batches []data.Batch
	for lo := 0; lo < len(rows); lo += 3 {
		var b data.Batch
		width := 0
		for _, r := range rows[lo:min(lo+3, len(rows))] {
			width = max(width, len(r.ids))
		}
		for _, r := range rows[lo:min(lo+3, len(rows))] {
			ids, labels := slices.Clone(r.ids), slices.Clone(r.labels)
			for len(ids) < width {
				ids, labels = append(ids, 0), append(labels, data.IgnoreIndex)
			}
			b.InputIDs, b.Labels = append(b.InputIDs, ids), append(b.Labels, labels)
		}
		batches = append(batches, b)
	}
	res, err := Evaluate(m, batches)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sequences != wantSeqs || res.ExactMatch != wantExact {
		t.Fatalf("exact match %d of %d sequences; want %d of %d", res.ExactMatch, res.Sequences, wantExact, wantSeqs)
	}
	if got, want := res.ExactMatchRate(), float64(wantExact)/float64(wantSeqs); got != want {
		t.Fatalf("rate %v, want %v", got, want)
	}
}
