package qwen3_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/qwen3"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

// refDir is the reference Qwen3 model (head_dim 32 ≠ hidden/heads 16).
var refDir = filepath.Join(testref.ModelsDir(), "model", "qwen3")

// withConfig copies the reference model into a temporary directory with
// config.json fields changed, and returns the directory.
func withConfig(t *testing.T, fields map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	weights, err := os.ReadFile(filepath.Join(refDir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), weights, 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(refDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		cfg[k] = v
	}
	if data, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func load(t *testing.T, dir string) model.CausalLM {
	t.Helper()
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// refIDs returns the reference input_ids ([2][24]).
func refIDs(t *testing.T) [][]int {
	t.Helper()
	f, err := testref.Tensors(filepath.Join("..", "peft-ref-models", "model", "qwen3", "base_ref.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids, err := testref.IDs(f, "input_ids")
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// maxAbsDiffAt returns max |Δ| between step logits [batch, 1 or n, vocab]
// and the full forward's at positions pos … pos+n−1.
func maxAbsDiffAt(full, step *tensor.Tensor, pos int) float64 {
	batch, seq, vocab := full.Shape[0], full.Shape[1], full.Shape[2]
	n := step.Shape[1]
	worst := 0.0
	for b := 0; b < batch; b++ {
		want := full.Data[(b*seq+pos)*vocab : (b*seq+pos+n)*vocab]
		got := step.Data[b*n*vocab : (b+1)*n*vocab]
		worst = max(worst, tensor.MaxAbsDiff(want, got))
	}
	return worst
}

// TestGenerateMatchesForward decodes greedily with the KV cache — a
// prompt of 6 tokens per row for two rows, then 14 tokens one at a time —
// and requires every step's logits to equal those of one full forward
// over the whole generated sequence at the same positions, within the
// references' logits tolerance; on the reference model and on it with
// sliding windows of 4 (shorter than the prompt) on one layer and on both.
// It also checks that the window is in force: the logits of the sliding
// models differ from the full-attention model's past the window, and not
// before.
func TestGenerateMatchesForward(t *testing.T) {
	const prompt, steps, window, atol = 6, 14, 4, 3e-5
	full := load(t, refDir)
	ids := refIDs(t)
	for _, tc := range []struct {
		name   string
		fields map[string]any
	}{
		{"full attention", nil},
		{"sliding window on layer 1", map[string]any{"use_sliding_window": true, "sliding_window": window, "max_window_layers": 1}},
		{"sliding window on both layers", map[string]any{"use_sliding_window": true, "sliding_window": window, "max_window_layers": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := full
			if tc.fields != nil {
				m = load(t, withConfig(t, tc.fields))
			}
			dec, ok := m.(model.Decoder)
			if !ok {
				t.Fatalf("%T is not a model.Decoder", m)
			}
			seqs := [][]int{append([]int(nil), ids[0][:prompt]...), append([]int(nil), ids[1][:prompt]...)}
			cache := dec.NewCache(2, prompt+steps)
			var got []*tensor.Tensor // each step's logits
			next := seqs
			for s := 0; s <= steps; s++ {
				logits, err := dec.Step(next, cache)
				if err != nil {
					t.Fatalf("step %d: %v", s, err)
				}
				got = append(got, logits.Clone())
				if s == steps {
					break
				}
				n, vocab := logits.Shape[1], logits.Shape[2]
				next = make([][]int, 2)
				for b := range seqs {
					tok := tensor.Argmax(logits.Data[(b*n+n-1)*vocab : (b*n+n)*vocab])
					seqs[b] = append(seqs[b], tok)
					next[b] = []int{tok}
				}
			}
			// The last step's token is not fed back: the sequences hold
			// prompt+steps tokens, the cache as many positions.
			if cache.Len() != prompt+steps || len(seqs[0]) != prompt+steps {
				t.Fatalf("cache holds %d positions, sequences %d tokens; want %d", cache.Len(), len(seqs[0]), prompt+steps)
			}
			want, err := m.Forward(seqs)
			if err != nil {
				t.Fatal(err)
			}
			worst, pos := 0.0, 0
			for s, logits := range got {
				d := maxAbsDiffAt(want, logits, pos)
				worst = max(worst, d)
				if d > atol {
					t.Errorf("step %d (positions %d…%d): max |Δ| %.3g against the full forward > %.3g", s, pos, pos+logits.Shape[1]-1, d, atol)
				}
				pos += logits.Shape[1]
			}
			t.Logf("%d steps, max |Δ| %.3g", len(got), worst)
			if tc.fields == nil {
				return
			}
			plain, err := full.Forward(seqs)
			if err != nil {
				t.Fatal(err)
			}
			before := maxAbsDiffAt(plain, sliceSeq(want, 0, window), 0)
			after := maxAbsDiffAt(plain, sliceSeq(want, window, prompt+steps), window)
			t.Logf("sliding against full attention: max |Δ| %.3g within the window, %.3g past it", before, after)
			if before > 1e-6 || after < 1e-3 {
				t.Errorf("sliding window not in force: max |Δ| %.3g within the window (want 0), %.3g past it (want > 1e-3)", before, after)
			}
		})
	}
}

// sliceSeq returns positions lo … hi−1 of logits [batch, seq, vocab].
func sliceSeq(x *tensor.Tensor, lo, hi int) *tensor.Tensor {
	batch, seq, vocab := x.Shape[0], x.Shape[1], x.Shape[2]
	out := tensor.New(batch, hi-lo, vocab)
	for b := 0; b < batch; b++ {
		copy(out.Data[b*(hi-lo)*vocab:(b+1)*(hi-lo)*vocab], x.Data[(b*seq+lo)*vocab:(b*seq+hi)*vocab])
	}
	return out
}

// TestPaddingRowGradient: with pad_token_id, full fine-tuning gives the
// embedding's pad row no gradient from the lookup (torch's
// nn.Embedding(padding_idx)) and leaves every other row's as without it;
// with a tied head the pad row keeps the head's part. The forward is the
// same either way.
func TestPaddingRowGradient(t *testing.T) {
	ids := refIDs(t)
	pad := ids[0][3] // a token the inputs hold
	for _, tied := range []bool{false, true} {
		t.Run(map[bool]string{false: "untied", true: "tied"}[tied], func(t *testing.T) {
			grads := func(fields map[string]any) (*tensor.Tensor, *tensor.Tensor) {
				fields["tie_word_embeddings"] = tied
				m := load(t, withConfig(t, fields))
				for _, p := range m.Params() {
					p.SetTrainable(true)
				}
				logits, err := m.Forward(ids)
				if err != nil {
					t.Fatal(err)
				}
				var ce nn.CrossEntropy
				if _, _, err := ce.Forward(logits, nn.ShiftedTargets(ids)); err != nil {
					t.Fatal(err)
				}
				m.Backward(ce.Backward(1))
				for _, p := range m.Params() {
					if p.Name == "model.embed_tokens.weight" {
						return logits, p.Grad
					}
				}
				t.Fatal("no model.embed_tokens.weight")
				return nil, nil
			}
			plainLogits, plain := grads(map[string]any{})
			padLogits, padded := grads(map[string]any{"pad_token_id": pad})
			if d := tensor.MaxAbsDiff(plainLogits.Data, padLogits.Data); d != 0 {
				t.Errorf("pad_token_id changed the logits by %.3g", d)
			}
			// Untied, the pad row gets nothing; tied, it keeps the head's
			// part only: not zero, and not the whole gradient.
			d := plain.Shape[1]
			for r := 0; r < plain.Shape[0]; r++ {
				got, all := padded.Data[r*d:(r+1)*d], plain.Data[r*d:(r+1)*d]
				if r != pad {
					if diff := tensor.MaxAbsDiff(got, all); diff != 0 {
						t.Fatalf("row %d changed by %.3g", r, diff)
					}
					continue
				}
				if !tied {
					if m := maxAbs(got); m != 0 {
						t.Errorf("untied pad row %d: gradient max |g| %.3g, want 0", r, m)
					}
					if maxAbs(all) == 0 {
						t.Error("the pad token's row has no gradient even without padding: the test proves nothing")
					}
					continue
				}
				if tensor.MaxAbsDiff(got, all) == 0 || maxAbs(got) == 0 {
					t.Errorf("tied pad row %d: want the head's part only, got %v of %v", r, got[:3], all[:3])
				}
			}
		})
	}
}

func maxAbs(x []float32) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, float64(max(v, -v)))
	}
	return m
}
