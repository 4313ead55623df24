package gpt2_test

import (
	"fmt"
	"path/filepath"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/model/gpt2"
)

// Decode GPT-2 token by token with a key/value cache; positions past
// n_positions are refused.
func ExampleModel_Step() {
	m, err := model.Load(filepath.Join(testref.Dir(), "model", "gpt2"))
	if err != nil {
		panic(err)
	}
	g := m.(*gpt2.Model)
	positions := g.Info().MaxPositions
	cache := g.NewCache(1, positions+1)
	logits, err := g.Step([][]int{{10, 20, 30}}, cache)
	if err != nil {
		panic(err)
	}
	fmt.Println(logits.Shape, cache.Len())
	for cache.Len() < positions {
		if _, err := g.Step([][]int{{7}}, cache); err != nil {
			panic(err)
		}
	}
	_, err = g.Step([][]int{{7}}, cache)
	fmt.Println(cache.Len())
	fmt.Println(err)
	// Output:
	// [1 3 256] 3
	// 64
	// gpt2: step: 1 new tokens after 64 cached positions exceed n_positions 64
}
