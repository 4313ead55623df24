package finetune_test

import (
	"testing"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/kernels"
	_ "github.com/orthotune/orthotune/model/qwen3" // bench --arch qwen3
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/oft"
)

// TestBenchQwen3 runs the benchmark on a tiny Qwen3 shape with a head
// width other than hidden/heads, for OFT with and without gradient
// checkpointing and for full fine-tuning: the parameter count is the
// Qwen3 layout's (q/k norms of head_dim, tied head), OFT trains a part of
// it and full fine-tuning all of it, and the figures are filled in.
func TestBenchQwen3(t *testing.T) {
	const layers, hidden, heads, kvHeads, headDim, inter, vocab = 2, 32, 4, 2, 12, 40, 50
	perLayer := 2*hidden + // input and post-attention norms
		(heads+2*kvHeads)*headDim*hidden + hidden*heads*headDim + // q, k, v, o
		2*headDim + // q_norm, k_norm
		3*inter*hidden // gate, up, down
	total := vocab*hidden + layers*perLayer + hidden // tied head: the embedding once
	for _, tc := range []struct {
		name       string
		adapter    func() peft.Config
		checkpoint bool
	}{
		{"oft", func() peft.Config { c := oft.NewConfig(peft.ModuleList{}); c.BlockSize = 4; return c }, false},
		{"oft checkpointed", func() peft.Config { c := oft.NewConfig(peft.ModuleList{}); c.BlockSize = 4; return c }, true},
		{"full", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := finetune.BenchSpec{Arch: "qwen3", Layers: layers, Hidden: hidden, Heads: heads, KVHeads: kvHeads, HeadDim: headDim,
				Intermediate: inter, Vocab: vocab, Seq: 8, Batch: 2, Steps: 2, Warmup: 1, GradientCheckpointing: tc.checkpoint, Seed: 1}
			if tc.adapter != nil {
				s.Adapter = tc.adapter()
			}
			r, err := finetune.Bench(s)
			if err != nil {
				t.Fatal(err)
			}
			if r.TotalParams != total {
				t.Errorf("total parameters %d, want %d (Qwen3 layout, head_dim %d, tied head)", r.TotalParams, total, headDim)
			}
			if full := tc.adapter == nil; full != (r.TrainableParams == r.TotalParams) || r.TrainableParams <= 0 {
				t.Errorf("%s: %d trainable of %d", tc.name, r.TrainableParams, r.TotalParams)
			}
			if r.Arch != "qwen3" || r.HeadDim != headDim || r.Checkpointing != tc.checkpoint || !(r.TokensPerS > 0) || !(r.GFLOPPerS > 0) || !(r.ModelGFLOPPerStep > 0) || !(r.FinalLoss > 0) {
				t.Errorf("result %+v", r)
			}
			// MFU where the machine's peak can be measured.
			if _, err := kernels.PeakKernel(); err == nil && !(r.PeakGFLOPS > 0 && r.MFU > 0 && r.MFU < 1.5) {
				t.Errorf("peak %g GFLOP/s, MFU %g", r.PeakGFLOPS, r.MFU)
			}
		})
	}
	if _, err := finetune.Bench(finetune.BenchSpec{Arch: "gpt2", Layers: 1, Hidden: 32, Heads: 4, HeadDim: 12, Intermediate: 8,
		Vocab: 8, Seq: 4, Batch: 1, Steps: 1}); err == nil {
		t.Error("gpt2 with a head dim other than hidden/heads: no error")
	}
}
