package gemma3_test

import (
	"fmt"
	"path/filepath"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/model/gemma3"
)

// Load the tiny reference Gemma 3, see which layers slide, and decode past
// the sliding window with the KV cache.
func Example() {
	m, err := model.Load(filepath.Join(testref.ModelsDir(), "model", "gemma3"))
	if err != nil {
		panic(err)
	}
	g := m.(*gemma3.Model)
	cfg := g.Config()
	fmt.Println(m.Info().ModelType, cfg.LayerTypes, "window", cfg.SlidingWindow)
	fmt.Printf("embedding scale %g, attention scale %.4f\n", cfg.EmbedScale, cfg.AttnScale)
	cache := g.NewCache(1, 16)
	prompt := []int{2, 17, 40, 3, 99, 5, 8, 13, 21, 34} // longer than the window
	logits, err := g.Step([][]int{prompt}, cache)
	if err != nil {
		panic(err)
	}
	fmt.Println(logits.Shape, cache.Len())
	logits, err = g.Step([][]int{{55}}, cache)
	if err != nil {
		panic(err)
	}
	fmt.Println(logits.Shape, cache.Len())
	// Output:
	// gemma3_text [sliding_attention full_attention sliding_attention full_attention] window 8
	// embedding scale 8, attention scale 0.2041
	// [1 10 256] 10
	// [1 1 256] 11
}
