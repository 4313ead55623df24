package llama_test

import (
	"fmt"
	"path/filepath"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/model/llama"
)

// Decode two rows at once: a prefill of three tokens each, then one new
// token per row; the cache holds keys and values for both rows.
func ExampleModel_Step() {
	m, err := model.Load(filepath.Join(testref.Dir(), "model", "llama"))
	if err != nil {
		panic(err)
	}
	l := m.(*llama.Model)
	cache := l.NewCache(2, 32)
	if _, err := l.Step([][]int{{1, 2, 3}, {4, 5, 6}}, cache); err != nil {
		panic(err)
	}
	logits, err := l.Step([][]int{{7}, {8}}, cache)
	if err != nil {
		panic(err)
	}
	fmt.Println(logits.Shape, cache.Len())
	_, err = l.Step([][]int{{7}}, cache)
	fmt.Println(err)
	// Output:
	// [2 1 256] 4
	// llama: step: input_ids has 1 rows but the cache was made for 2
}
