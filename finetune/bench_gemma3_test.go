package finetune_test

import (
	"testing"

	"github.com/orthotune/orthotune/finetune"
	_ "github.com/orthotune/orthotune/model/gemma3"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/oft"
)

// TestBenchGemma3 runs the benchmark on a tiny Gemma 3 shape (head_dim
// apart from hidden/heads, one key/value head, a global layer after five
// sliding ones) with OFT: serially with gradient checkpointing and a
// bfloat16 base, and on two data-parallel replicas.
func TestBenchGemma3(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ckpt      bool
		dtype     string
		replicas  int
		wantRepls int
	}{
		{"checkpointing, bf16 base", true, "bf16", 1, 1},
		{"two replicas", false, "f32", 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := peft.LookupMethod("oft")
			if !ok {
				t.Fatal("oft is not registered")
			}
			cfg := m.TrainingConfig()
			cfg.(*oft.Config).BlockSize = 8
			r, err := finetune.Bench(finetune.BenchSpec{
				Arch: "gemma3", Layers: 6, Hidden: 32, Heads: 4, KVHeads: 1, HeadDim: 16, Intermediate: 48, Vocab: 64,
				Seq: 12, Batch: 2, Adapter: cfg, Steps: 2, Warmup: 1, BaseDType: tc.dtype,
				GradientCheckpointing: tc.ckpt, Replicas: tc.replicas, Seed: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Arch != "gemma3" || r.Method != "oft" || r.Replicas != tc.wantRepls || !(r.TokensPerS > 0) ||
				r.TrainableParams == 0 || r.TrainableParams >= r.TotalParams || !(r.FinalLoss > 0) {
				t.Errorf("%+v", r)
			}
		})
	}
	if _, err := finetune.Bench(finetune.BenchSpec{Arch: "gpt2", Layers: 1, Hidden: 32, Heads: 4, HeadDim: 16, Intermediate: 48,
		Vocab: 64, Seq: 8, Batch: 1, Steps: 1}); err == nil {
		t.Error("a head width apart from hidden/heads was accepted for gpt2")
	}
}
