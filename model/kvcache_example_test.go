package model_test

import (
	"fmt"
	"path/filepath"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
)

// Run a prompt into a key/value cache, then feed one more token: the
// step's logits are those of a full forward over all five tokens.
func ExampleDecoder() {
	m, err := model.Load(filepath.Join(testref.Dir(), "model", "llama"))
	if err != nil {
		panic(err)
	}
	dec := m.(model.Decoder) // llama, mistral, qwen2 and gpt2 models all decode
	cache := dec.NewCache(1, 16)
	prefill, err := dec.Step([][]int{{135, 96, 242, 72}}, cache)
	if err != nil {
		panic(err)
	}
	next, err := dec.Step([][]int{{133}}, cache)
	if err != nil {
		panic(err)
	}
	full, _ := m.Forward([][]int{{135, 96, 242, 72, 133}})
	vocab := full.Shape[2]
	var worst float32
	for i, v := range next.Data {
		worst = max(worst, v-full.Data[4*vocab+i], full.Data[4*vocab+i]-v)
	}
	fmt.Println(prefill.Shape, next.Shape, cache.Len(), worst < 1e-5)
	_, err = dec.Step([][]int{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}, cache)
	fmt.Println(err)
	// Output:
	// [1 4 256] [1 1 256] 5 true
	// llama: step: 12 new tokens after 5 cached positions exceed the cache's 16: cache is full
}
