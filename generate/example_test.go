package generate_test

import (
	"fmt"
	"path/filepath"

	"github.com/orthotune/orthotune/generate"
	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/llama"
	"github.com/orthotune/orthotune/tensor"
)

// Continue a prompt greedily, streaming each token as it is chosen, then
// sample with temperature and nucleus filtering from a fixed seed.
func ExampleGenerate() {
	m, err := model.Load(filepath.Join(testref.Dir(), "model", "llama"))
	if err != nil {
		panic(err)
	}
	dec := m.(model.Decoder)
	prompt := []int{135, 96, 242, 72}
	ids, err := generate.Generate(dec, prompt, generate.Options{
		MaxNewTokens: 6,
		OnToken:      func(id int) error { fmt.Print(id, " "); return nil },
	})
	fmt.Println("→", len(ids), "new tokens, error:", err)

	sampled, _ := generate.Generate(dec, prompt, generate.Options{
		MaxNewTokens: 6, Seed: 1,
		Sampler: generate.Sampler{Temperature: 0.8, TopK: 50, TopP: 0.9},
	})
	again, _ := generate.Generate(dec, prompt, generate.Options{
		MaxNewTokens: 6, Seed: 1,
		Sampler: generate.Sampler{Temperature: 0.8, TopK: 50, TopP: 0.9},
	})
	fmt.Println(len(sampled), fmt.Sprint(sampled) == fmt.Sprint(again))
	// Output:
	// 155 155 70 108 155 152 → 6 new tokens, error: <nil>
	// 6 true
}

// Top-p keeps the smallest set of most likely tokens whose probability
// reaches TopP, then renormalises.
func ExampleSampler_Distribution() {
	s := generate.Sampler{Temperature: 1, TopP: 0.75}
	// Probabilities 0.5, 0.3, 0.2 as logits.
	p := s.Distribution([]float32{0, -0.5108256, -0.9162907})
	fmt.Printf("%.3f %.3f %.3f\n", p[0], p[1], p[2])
	fmt.Println(s.Sample([]float32{0, -0.5108256, -0.9162907}, tensor.NewRNG(1)) != 2)
	// Output:
	// 0.625 0.375 0.000
	// true
}
