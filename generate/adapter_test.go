package generate_test

import (
	"testing"

	"github.com/orthotune/orthotune/generate"
	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/lora"
	"github.com/orthotune/orthotune/peft/oft"
	"github.com/orthotune/orthotune/tensor"
)

func maxAbs(x []float32) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, float64(max(v, -v)))
	}
	return m
}

// TestStepThroughAdapter: with a PEFT adapter installed (random, so not
// the identity), cached steps reproduce the adapted model's full forward,
// greedy generation follows the adapted model, and disabling the adapter
// brings the base model's logits back — so Step routes every linear layer
// through its slot.
func TestStepThroughAdapter(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec testmodel.Spec
		cfg  func() peft.Config
	}{
		{"llama OFT all-linear", testmodel.Spec{ModelType: "llama", Heads: 4, KVHeads: 2}, func() peft.Config {
			c := oft.NewConfig(peft.Pattern("all-linear"))
			c.BlockSize = 4
			return c
		}},
		{"qwen2 OFT exact Cayley on attention", testmodel.Spec{ModelType: "qwen2", Heads: 4, KVHeads: 1}, func() peft.Config {
			c := oft.NewConfig(peft.Names("q_proj", "k_proj", "v_proj", "o_proj"))
			c.BlockSize, c.UseCayleyNeumann = 8, false
			return c
		}},
		{"mistral LoRA", testmodel.Spec{ModelType: "mistral", SlidingWindow: 4}, func() peft.Config {
			c := lora.NewConfig(peft.Pattern("all-linear"))
			c.R, c.LoraAlpha = 4, 8
			return c
		}},
		{"gpt2 LoRA", testmodel.Spec{ModelType: "gpt2"}, func() peft.Config {
			c := lora.NewConfig(peft.Names("c_attn", "c_proj", "c_fc"))
			c.R, c.LoraAlpha = 4, 8
			return c
		}},
		{"gpt2 OFT", testmodel.Spec{ModelType: "gpt2"}, func() peft.Config {
			c := oft.NewConfig(peft.Names("c_attn", "c_fc"))
			c.BlockSize = 4
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, dec := buildDecoder(t, tc.spec)
			rng := tensor.NewRNG(21)
			ids := [][]int{{4, 19, 2, 30, 11, 7, 25, 1, 16, 9}, {8, 8, 3, 27, 0, 14, 6, 22, 31, 5}}
			plain, err := base.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			pm := peft.Wrap(base)
			a, err := pm.Add("default", tc.cfg(), rng)
			if err != nil {
				t.Fatal(err)
			}
			a.SetTraining(false)
			for _, p := range a.Params() {
				rng.Normal(p.Param.W, 0, 0.2)
			}
			full, err := pm.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			scale := maxAbs(full.Data)
			if d := tensor.MaxAbsDiff(plain.Data, full.Data); d < 1e-2*scale {
				t.Fatalf("the adapter changes the logits by only %.3g: not a real test", d)
			}
			cache := dec.NewCache(2, 10)
			pos := 0
			for _, n := range []int{4, 1, 1, 3, 1} {
				step, err := dec.Step(columns(ids, pos, pos+n), cache)
				if err != nil {
					t.Fatal(err)
				}
				if d := stepDiff(full, step, pos); d > 1e-5*scale {
					t.Errorf("positions %d…%d: max |Δ| = %.3g against the adapted forward (scale %.3g)", pos, pos+n-1, d, scale)
				}
				pos += n
			}
			prompt := ids[0][:4]
			got, err := generate.Generate(dec, prompt, generate.Options{MaxNewTokens: 8})
			if err != nil {
				t.Fatal(err)
			}
			checkGreedy(t, pm, prompt, got)

			if err := pm.DisableAdapters(); err != nil {
				t.Fatal(err)
			}
			cache.Reset()
			step, err := dec.Step(ids, cache)
			if err != nil {
				t.Fatal(err)
			}
			if d := stepDiff(plain, step, 0); d > 1e-5*maxAbs(plain.Data) {
				t.Errorf("adapter disabled: max |Δ| = %.3g against the base forward", d)
			}
		})
	}
}

func columns(ids [][]int, lo, hi int) [][]int {
	out := make([][]int, len(ids))
	for b, row := range ids {
		out[b] = row[lo:hi]
	}
	return out
}

// stepDiff returns max |Δ| between step logits [batch, n, vocab] and
// positions lo … lo+n−1 of full logits [batch, seq, vocab].
func stepDiff(full, step *tensor.Tensor, lo int) float64 {
	batch, seq, vocab := full.Shape[0], full.Shape[1], full.Shape[2]
	n := step.Shape[1]
	worst := 0.0
	for b := range batch {
		worst = max(worst, tensor.MaxAbsDiff(full.Data[(b*seq+lo)*vocab:(b*seq+lo+n)*vocab], step.Data[b*n*vocab:(b+1)*n*vocab]))
	}
	return worst
}

var _ model.Decoder = (*fake)(nil)
