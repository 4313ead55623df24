package model_test

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

// TestForwardLossMatchesLogits runs, for each architecture and a tied head,
// the loss through ForwardLoss/BackwardLoss in chunks of three rows (a
// ragged last chunk, a chunk whose targets are all ignored) and through
// Forward, the cross-entropy and Backward: the loss sum, the count, the
// input-embedding gradient and every weight's gradient (head included)
// agree.
func TestForwardLossMatchesLogits(t *testing.T) {
	for _, spec := range []testmodel.Spec{
		{ModelType: "llama", Heads: 4, KVHeads: 2},
		{ModelType: "llama", Tied: true},
		{ModelType: "qwen3", Heads: 4, KVHeads: 2, Tied: true},
		{ModelType: "gpt2"},
	} {
		t.Run(spec.ModelType, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			if _, err := testmodel.Write(dir, spec); err != nil {
				t.Fatal(err)
			}
			load := func() model.CausalLM {
				m, err := model.Load(dir)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range m.Params() {
					p.SetTrainable(true)
				}
				return m
			}
			ref, chunked := load(), load()
			lm, ok := chunked.(model.LossModel)
			if !ok {
				t.Fatalf("%T is not a model.LossModel", chunked)
			}
			vocab := ref.Info().Vocab
			rng := tensor.NewRNG(9)
			ids := [][]int{make([]int, 7), make([]int, 7)}
			for _, row := range ids {
				for i := range row {
					row[i] = rng.IntN(vocab)
				}
			}
			targets := nn.ShiftedTargets(ids)
			for i := 3; i < 6; i++ {
				targets[i] = nn.IgnoreIndex // rows 3–5: the second chunk counts nothing
			}
			const rowScale = 1.0 / 9

			var ce nn.CrossEntropy
			logits, err := ref.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			mean, wantN, err := ce.Forward(logits, targets)
			if err != nil {
				t.Fatal(err)
			}
			wantDX := ref.Backward(ce.Backward(float64(wantN) * rowScale))

			defer func(old int) { model.LossChunkFloats = old }(model.LossChunkFloats)
			model.LossChunkFloats = 3 * vocab
			var ce2 nn.CrossEntropy
			sum, n, err := lm.ForwardLoss(ids, targets, rowScale, &ce2)
			if err != nil {
				t.Fatal(err)
			}
			if n != wantN || math.Abs(sum-mean*float64(wantN)) > 1e-5*math.Abs(sum) {
				t.Fatalf("ForwardLoss: sum %g over %d targets, want %g over %d", sum, n, mean*float64(wantN), wantN)
			}
			gotDX := lm.BackwardLoss()
			closeTo(t, "input gradient", gotDX.Data, wantDX.Data)
			for i, p := range ref.Params() {
				closeTo(t, p.Name+" gradient", chunked.Params()[i].Grad.Data, p.Grad.Data)
			}
		})
	}
}

// closeTo fails unless got and want agree within 1e-5 of want's largest
// magnitude.
func closeTo(t *testing.T, what string, got, want []float32) {
	t.Helper()
	top := float64(maxAbs(want))
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*top+1e-12 {
			t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

// TestHeadLossZeroesIgnoredChunks: HeadLoss writes every row of dh, zeros
// where a chunk counts no target, whatever dh held before.
func TestHeadLossZeroesIgnoredChunks(t *testing.T) {
	const rows, in, vocab = 5, 4, 6
	w := tensor.New(vocab, in)
	for i := range w.Data {
		w.Data[i] = float32(i%7) - 3
	}
	head, err := nn.NewLinear("lm_head", w, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	head.FreshOutput = true
	h := tensor.New(rows, in)
	for i := range h.Data {
		h.Data[i] = float32(i%5) / 5
	}
	dh := tensor.New(rows, in)
	for i := range dh.Data {
		dh.Data[i] = float32(math.NaN())
	}
	defer func(old int) { model.LossChunkFloats = old }(model.LossChunkFloats)
	model.LossChunkFloats = 2 * vocab // three chunks: rows {0}, {1,2}, {3,4}
	targets := []int{1, nn.IgnoreIndex, nn.IgnoreIndex, nn.IgnoreIndex, 5}
	var ce nn.CrossEntropy
	_, n, err := model.HeadLoss(head, h, vocab, targets, 0.5, &ce, dh)
	if err != nil || n != 2 {
		t.Fatalf("HeadLoss: %d targets, %v; want 2", n, err)
	}
	for r := range rows {
		for j, v := range dh.Data[r*in : (r+1)*in] {
			ignoredChunk := r == 1 || r == 2
			if v != v || ignoredChunk && v != 0 || !ignoredChunk && r != 3 && v == 0 {
				t.Errorf("dh[%d][%d] = %g", r, j, v)
			}
		}
	}
	if _, _, err := model.HeadLoss(head, h, vocab, targets[:4], 0.5, &ce, dh); err == nil {
		t.Error("HeadLoss with 4 targets for 5 rows: no error")
	}
}

// chunkRows records the rows of each chunk HeadLoss hands its head.
type chunkRows struct {
	*nn.Linear
	rows []int
}

func (c *chunkRows) Forward(x *tensor.Tensor) *tensor.Tensor {
	c.rows = append(c.rows, x.Dim(0))
	return c.Linear.Forward(x)
}

// TestHeadLossBalancesChunks: as few chunks as LossChunkFloats allows,
// their rows differing by one at most (no short last chunk, which would
// pack the head's weight for a handful of rows).
func TestHeadLossBalancesChunks(t *testing.T) {
	const in, vocab = 3, 4
	w := tensor.New(vocab, in)
	for i := range w.Data {
		w.Data[i] = float32(i%5) - 2
	}
	lin, err := nn.NewLinear("lm_head", w, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	lin.FreshOutput = true
	defer func(old int) { model.LossChunkFloats = old }(model.LossChunkFloats)
	for _, c := range []struct {
		rows, maxRows int
		want          []int
	}{
		{512, 170, []int{128, 128, 128, 128}},
		{7, 3, []int{2, 2, 3}},
		{6, 3, []int{3, 3}},
		{5, 8, []int{5}},
		{3, 1, []int{1, 1, 1}},
	} {
		model.LossChunkFloats = c.maxRows * vocab
		head := &chunkRows{Linear: lin}
		h := tensor.New(c.rows, in)
		targets := make([]int, c.rows)
		var ce nn.CrossEntropy
		if _, _, err := model.HeadLoss(head, h, vocab, targets, 1, &ce, tensor.New(c.rows, in)); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(head.rows, c.want) {
			t.Errorf("%d rows, at most %d a chunk: chunks of %v, want %v", c.rows, c.maxRows, head.rows, c.want)
		}
	}
}
