package gemma3_test

import (
	"testing"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/model/gemma3"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// TestStepMatchesForwardBeyondWindow runs the reference model's 24-token
// rows through the KV cache — a 12-token prompt, longer than the sliding
// window of 8, then one token per step, and the same with a 3-token chunk —
// and checks the logits of every step against the full forward's at the
// same positions, and the full forward against the reference.
func TestStepMatchesForwardBeyondWindow(t *testing.T) {
	c, err := testref.LoadModelRef("gemma3/base")
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := model.Load(c.Path(c.ModelDir))
	if err != nil {
		t.Fatal(err)
	}
	m := loaded.(*gemma3.Model)
	ref, err := safetensors.Open(c.Path(c.Ref))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	ids, err := testref.IDs(ref, "input_ids")
	if err != nil {
		t.Fatal(err)
	}
	window := m.Config().SlidingWindow
	const prompt = 12
	if prompt <= window || len(ids[0]) <= prompt {
		t.Fatalf("prompt %d, window %d, rows of %d: the test needs window < prompt < row", prompt, window, len(ids[0]))
	}
	full, err := m.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Float32("logits")
	if err != nil {
		t.Fatal(err)
	}
	tol, err := c.Tolerance("logits")
	if err != nil {
		t.Fatal(err)
	}
	if d := tensor.MaxAbsDiff(full.Data, want.Data); d > tol {
		t.Fatalf("full forward differs from the reference by %.3g", d)
	}
	seq, vocab := len(ids[0]), m.Info().Vocab
	for _, chunks := range [][]int{
		append([]int{prompt}, ones(seq-prompt)...),
		append([]int{prompt, 3}, ones(seq-prompt-3)...),
	} {
		cache := m.NewCache(len(ids), seq)
		pos, worst := 0, 0.0
		for _, n := range chunks {
			step := make([][]int, len(ids))
			for b := range ids {
				step[b] = ids[b][pos : pos+n]
			}
			logits, err := m.Step(step, cache)
			if err != nil {
				t.Fatal(err)
			}
			for b := range ids {
				got := logits.Data[b*n*vocab : (b+1)*n*vocab]
				w := full.Data[(b*seq+pos)*vocab : (b*seq+pos+n)*vocab]
				d := tensor.MaxAbsDiff(got, w)
				if d > 1e-5 {
					t.Errorf("chunks %v: positions %d…%d of row %d differ from the full forward by %.3g", chunks, pos, pos+n-1, b, d)
				}
				worst = max(worst, d)
			}
			pos += n
		}
		if cache.Len() != seq {
			t.Errorf("cache holds %d positions, want %d", cache.Len(), seq)
		}
		t.Logf("chunks %v: max |Δ| against the full forward %.3g", chunks, worst)
	}
}

func ones(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 1
	}
	return out
}
