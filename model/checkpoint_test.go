package model_test

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/tensor"
)

// liveAfterForward returns how many heap bytes a forward pass leaves alive
// (besides the logits) for the backward pass.
func liveAfterForward(t *testing.T, m model.CausalLM, ids [][]int) uint64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	logits, err := m.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(logits)
	runtime.KeepAlive(m) // the model holds what is measured
	return after.HeapAlloc - before.HeapAlloc - uint64(4*logits.Len())
}

// TestGradientCheckpointingKeepsLess checks that with checkpointing on a
// forward keeps a fraction of the activations, and that backward still
// works after it (gradients themselves are compared in package train).
func TestGradientCheckpointingKeepsLess(t *testing.T) {
	for _, arch := range []string{"llama", "gpt2"} {
		t.Run(arch, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			spec := testmodel.Spec{ModelType: arch, Hidden: 64, Heads: 4, KVHeads: 2, Intermediate: 256, Layers: 6, Vocab: 50, Positions: 64, Seed: 1}
			if _, err := testmodel.Write(dir, spec); err != nil {
				t.Fatal(err)
			}
			rng := tensor.NewRNG(2)
			ids := make([][]int, 4)
			for i := range ids {
				ids[i] = make([]int, 64)
				for j := range ids[i] {
					ids[i][j] = rng.IntN(50)
				}
			}
			// Each measurement on its own model, so that neither sees the
			// other's activations.
			load := func(checkpoint bool) model.CausalLM {
				m, err := model.Load(dir)
				if err != nil {
					t.Fatal(err)
				}
				if err := model.SetGradientCheckpointing(m, checkpoint); err != nil {
					t.Fatal(err)
				}
				return m
			}
			plain := liveAfterForward(t, load(false), ids)
			m := load(true)
			ckpt := liveAfterForward(t, m, ids)
			t.Logf("live after forward: %d KiB plain, %d KiB checkpointed", plain/1024, ckpt/1024)
			if ckpt*3 > plain {
				t.Errorf("checkpointing keeps %d bytes alive, plain %d: want under a third", ckpt, plain)
			}
			logits, err := m.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			if dx := m.Backward(tensor.New(logits.Shape...)); dx == nil {
				t.Fatal("Backward after a checkpointed forward returned nil")
			}
		})
	}
}
