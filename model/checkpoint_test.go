package model_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
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
	for _, arch := range []string{"llama", "qwen3", "gpt2", "gemma3_text"} {
		t.Run(arch, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			// Large enough that activations (~140 MiB without checkpointing)
			// dwarf the GEMM backends' pooled packing buffers (a few MiB).
			spec := testmodel.Spec{ModelType: arch, Hidden: 128, Heads: 4, KVHeads: 2, HeadDim: 32, Intermediate: 512, Layers: 12, Vocab: 50, Positions: 64, Seed: 1}
			if _, err := testmodel.Write(dir, spec); err != nil {
				t.Fatal(err)
			}
			rng := tensor.NewRNG(2)
			ids := make([][]int, 16)
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
			if ckpt*5 > plain*2 {
				t.Errorf("checkpointing keeps %d bytes alive, plain %d: want under 40%% (one block kept, one in circulation, and the block inputs)", ckpt, plain)
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

// TestStoreBaseBF16 checks that holding frozen linear weights in bfloat16
// changes nothing for weights that bfloat16 represents exactly (logits and
// input gradients bit-identical), halves those weights' memory, keeps a
// tied head in float32, and makes saving fail with nn.ErrBF16.
func TestStoreBaseBF16(t *testing.T) {
	for _, spec := range []testmodel.Spec{
		{ModelType: "llama", Hidden: 32, Heads: 4, KVHeads: 2, Intermediate: 48, Layers: 2, Vocab: 40, Positions: 32, Seed: 4},
		{ModelType: "llama", Tied: true, Hidden: 32, Heads: 4, KVHeads: 2, Intermediate: 48, Layers: 2, Vocab: 40, Positions: 32, Seed: 4},
		{ModelType: "qwen3", Hidden: 32, Heads: 4, KVHeads: 2, Intermediate: 48, Layers: 2, Vocab: 40, Positions: 32, Seed: 4},
		{ModelType: "gpt2", Hidden: 32, Heads: 4, Intermediate: 48, Layers: 2, Vocab: 40, Positions: 32, Seed: 4},
	} {
		t.Run(fmt.Sprintf("%s tied=%v", spec.ModelType, spec.Tied), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			if _, err := testmodel.Write(dir, spec); err != nil {
				t.Fatal(err)
			}
			load := func() model.CausalLM {
				m, err := model.Load(dir)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range m.Params() { // make every weight bfloat16-exact
					for i, v := range p.W.Data {
						p.W.Data[i] = tensor.RoundBF16(v)
					}
				}
				return m
			}
			ref, m := load(), load()
			tied := m.Info().TiedEmbeddings // GPT-2 always ties
			var linearBytes int64
			for _, s := range m.Linears() {
				if !(s.Head && tied) {
					linearBytes += 4 * int64(s.Base.Weight.W.Len())
				}
			}
			saved, err := model.StoreBaseBF16(m)
			if err != nil {
				t.Fatal(err)
			}
			if saved != linearBytes/2 {
				t.Errorf("saved %d bytes, want half of %d", saved, linearBytes)
			}
			for _, s := range m.Linears() {
				if s.Head && tied && s.Base.BF16() {
					t.Error("the tied head (the embedding table) was converted")
				}
			}
			ids := [][]int{{1, 5, 9, 3, 7, 2}, {4, 4, 0, 39, 12, 8}}
			want, err := ref.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Data, want.Data) {
				t.Fatal("logits differ with bfloat16-held weights")
			}
			dy := tensor.NewRNG(1).Randn(1, got.Shape...)
			if dw, dg := ref.Backward(dy), m.Backward(dy); !slices.Equal(dw.Data, dg.Data) {
				t.Fatal("input gradients differ with bfloat16-held weights")
			}
			_, err = model.CheckpointEntries(m, nil)
			if !errors.Is(err, nn.ErrBF16) {
				t.Errorf("CheckpointEntries on a bfloat16 model: %v, want nn.ErrBF16", err)
			}
		})
	}
}
