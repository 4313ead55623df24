package gemma3_test

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// fullGradients runs ForwardLoss and BackwardLoss (loss summed over rows)
// with every weight trainable and returns the loss and a copy of every
// gradient.
func fullGradients(t *testing.T, m model.CausalLM, ids [][]int) (float64, map[string][]float32) {
	t.Helper()
	for _, p := range m.Params() {
		p.SetTrainable(true)
		p.ZeroGrad()
	}
	var ce nn.CrossEntropy
	loss, _, err := m.(model.LossModel).ForwardLoss(ids, nn.ShiftedTargets(ids), 1, &ce)
	if err != nil {
		t.Fatal(err)
	}
	tensor.Put(m.(model.LossModel).BackwardLoss())
	out := map[string][]float32{}
	for _, p := range m.Params() {
		out[p.Name] = slices.Clone(p.Grad.Data)
	}
	return loss, out
}

// TestGradientCheckpointingSameGradients: with checkpointing on, loss and
// every gradient are bit-identical to a plain pass.
func TestGradientCheckpointingSameGradients(t *testing.T) {
	over := map[string]any{"final_logit_softcapping": 3.0}
	ids := randomIDs(tensor.NewRNG(1), 2, 9, 24)
	plainLoss, plain := fullGradients(t, newModel(t, over, 3), ids)
	m := newModel(t, over, 3)
	if err := model.SetGradientCheckpointing(m, true); err != nil {
		t.Fatal(err)
	}
	for range 2 { // twice: the second pass runs on released, then recomputed blocks
		loss, got := fullGradients(t, m, ids)
		if loss != plainLoss {
			t.Errorf("loss %v with checkpointing, %v without", loss, plainLoss)
		}
		for name, g := range plain {
			if !slices.Equal(got[name], g) {
				t.Errorf("%s: gradient differs with checkpointing (max |Δ| %.3g)", name, tensor.MaxAbsDiff(got[name], g))
			}
		}
	}
}

// TestReplicaGradientsAdd: a replica shares the weights, and its gradients
// on some rows plus the model's on the others equal the model's on all rows
// (what a data-parallel step sums).
func TestReplicaGradientsAdd(t *testing.T) {
	over := map[string]any{"tie_word_embeddings": false, "final_logit_softcapping": 3.0}
	ids := randomIDs(tensor.NewRNG(2), 3, 8, 24)
	_, whole := fullGradients(t, newModel(t, over, 4), ids)
	m := newModel(t, over, 4)
	for _, p := range m.Params() {
		p.SetTrainable(true)
	}
	r, err := m.Replica(nn.NewReplicas())
	if err != nil {
		t.Fatal(err)
	}
	if r.Params()[0].W != m.Params()[0].W {
		t.Fatal("the replica does not share the embedding table")
	}
	_, first := fullGradients(t, m, ids[:1])
	_, rest := fullGradients(t, r, ids[1:])
	for name, g := range whole {
		sum := slices.Clone(first[name])
		for i, v := range rest[name] {
			sum[i] += v
		}
		if d := tensor.MaxAbsDiff(sum, g); d > 1e-5*math.Max(1, maxAbs(g)) {
			t.Errorf("%s: model + replica gradients differ from the whole batch's by %.3g", name, d)
		}
	}
}

func maxAbs(v []float32) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(float64(x)))
	}
	return m
}

// TestStoreBaseBF16 holds the reference model's frozen linear weights in
// bfloat16 after rounding every weight to bfloat16: logits are
// bit-identical, the tied head stays float32, and saving refuses.
func TestStoreBaseBF16(t *testing.T) {
	c, err := testref.LoadModelRef("gemma3/base")
	if err != nil {
		t.Fatal(err)
	}
	load := func() model.CausalLM {
		m, err := model.Load(c.Path(c.ModelDir))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m.Params() {
			for i, v := range p.W.Data {
				p.W.Data[i] = tensor.RoundBF16(v)
			}
		}
		return m
	}
	ref, m := load(), load()
	saved, err := model.StoreBaseBF16(m)
	if err != nil {
		t.Fatal(err)
	}
	if saved == 0 {
		t.Fatal("no weight was held in bfloat16")
	}
	for _, s := range m.Linears() {
		if s.Head == s.Base.BF16() {
			t.Errorf("%s: bfloat16 %v (the tied head must stay float32, every other layer convert)", s.Name, s.Base.BF16())
		}
	}
	ids := randomIDs(tensor.NewRNG(3), 2, 12, m.Info().Vocab)
	want, err := ref.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Data, want.Data) {
		t.Errorf("logits differ with bfloat16-held weights by %.3g", tensor.MaxAbsDiff(got.Data, want.Data))
	}
}

// TestWriteDirRoundTrip changes every weight, writes the model beside its
// checkpoint's layout and loads it back: same tensors (no lm_head for the
// tied model), same logits.
func TestWriteDirRoundTrip(t *testing.T) {
	c, err := testref.LoadModelRef("gemma3/base")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(c.Path(c.ModelDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		for i := range p.W.Data {
			p.W.Data[i] += 0.01
		}
	}
	ckpt, err := safetensors.OpenCheckpoint(c.Path(c.ModelDir))
	if err != nil {
		t.Fatal(err)
	}
	defer ckpt.Close()
	dir := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, _, err := model.WriteDir(m, ckpt, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(m.Params()) {
		t.Errorf("wrote %d tensors, the model has %d weights", len(entries), len(m.Params()))
	}
	back, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := randomIDs(tensor.NewRNG(4), 1, 10, m.Info().Vocab)
	a, err := m.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	b, err := back.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Data, b.Data) {
		t.Errorf("reloaded logits differ by %.3g", tensor.MaxAbsDiff(a.Data, b.Data))
	}
}
