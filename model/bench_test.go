package model_test

import (
	"path/filepath"
	"testing"

	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

// BenchmarkTrainStep measures one forward + loss + backward (all weights
// frozen, input gradient only: the work an adapter step adds to) on small
// Llama and GPT-2 shapes and reports tokens/s.
func BenchmarkTrainStep(b *testing.B) {
	for _, tc := range []struct {
		name string
		spec testmodel.Spec
	}{
		{"llama-4x256", testmodel.Spec{ModelType: "llama", Layers: 4, Hidden: 256, Heads: 4, KVHeads: 4, Intermediate: 704, Vocab: 4096, Positions: 256}},
		{"gpt2-4x256", testmodel.Spec{ModelType: "gpt2", Layers: 4, Hidden: 256, Heads: 4, Intermediate: 1024, Vocab: 4096, Positions: 256}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "m")
			if _, err := testmodel.Write(dir, tc.spec); err != nil {
				b.Fatal(err)
			}
			m, err := model.Load(dir)
			if err != nil {
				b.Fatal(err)
			}
			const batch, seq = 8, 128
			rng := tensor.NewRNG(1)
			ids := make([][]int, batch)
			for i := range ids {
				ids[i] = make([]int, seq)
				for j := range ids[i] {
					ids[i][j] = rng.IntN(tc.spec.Vocab)
				}
			}
			targets := nn.ShiftedTargets(ids)
			var ce nn.CrossEntropy
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				logits, err := m.Forward(ids)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := ce.Forward(logits, targets); err != nil {
					b.Fatal(err)
				}
				m.Backward(ce.Backward(1))
			}
			b.ReportMetric(float64(batch*seq*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
