package generate_test

import (
	"testing"

	"github.com/orthotune/orthotune/generate"
	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/tensor"
)

// BenchmarkGenerate measures greedy generation of 96 tokens after a
// 32-token prompt on small Llama and GPT-2 shapes, reported as new
// tokens/s: "cached" is Generate (one prefill, then one cached step per
// token); "full-forward" re-runs Forward over the whole sequence for every
// token, the cost without a cache.
func BenchmarkGenerate(b *testing.B) {
	const promptLen, newTokens = 32, 96
	for _, tc := range []struct {
		name string
		spec testmodel.Spec
	}{
		{"llama-4x256", testmodel.Spec{ModelType: "llama", Layers: 4, Hidden: 256, Heads: 4, KVHeads: 4, Intermediate: 704, Vocab: 4096, Positions: 256}},
		{"gpt2-4x256", testmodel.Spec{ModelType: "gpt2", Layers: 4, Hidden: 256, Heads: 4, Intermediate: 1024, Vocab: 4096, Positions: 256}},
	} {
		m, dec := buildDecoder(b, tc.spec)
		rng := tensor.NewRNG(1)
		prompt := make([]int, promptLen)
		for i := range prompt {
			prompt[i] = rng.IntN(tc.spec.Vocab)
		}
		b.Run(tc.name+"/cached", func(b *testing.B) {
			for b.Loop() {
				if _, err := generate.Generate(dec, prompt, generate.Options{MaxNewTokens: newTokens}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(newTokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
		b.Run(tc.name+"/full-forward", func(b *testing.B) {
			for b.Loop() {
				fullForwardGreedy(b, m, prompt, newTokens)
			}
			b.ReportMetric(float64(newTokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// fullForwardGreedy generates greedily by running the whole sequence
// through Forward for each new token.
func fullForwardGreedy(b *testing.B, m model.CausalLM, prompt []int, n int) []int {
	ids := append([]int(nil), prompt...)
	var s generate.Sampler
	for range n {
		logits, err := m.Forward([][]int{ids})
		if err != nil {
			b.Fatal(err)
		}
		v := logits.Shape[2]
		ids = append(ids, s.Sample(logits.Data[len(logits.Data)-v:], nil))
	}
	return ids[len(prompt):]
}
