package finetune_test

import (
	"path/filepath"
	"testing"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/model"
)

// StepFLOPs on a model whose linear layers are counted by hand: two Llama
// blocks of hidden 16 (q, k, v, o 16×16; gate, up, down 16×24) and an
// untied 32×16 head give P = 2·(4·256 + 3·384) + 512 = 4864 weights.
func TestStepFLOPs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	if _, err := testmodel.Write(dir, testmodel.Spec{ModelType: "llama", Hidden: 16, Heads: 4, Intermediate: 24, Layers: 2, Vocab: 32}); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	const p, layers, heads, headDim, seq, rows = 4864.0, 2, 4, 4, 8, 2
	attention := 12.0 * layers * heads * headDim * seq
	for _, c := range []struct {
		name string
		full bool
		want float64
	}{
		{"adapter (frozen weights)", false, (4*p + attention) * seq * rows},
		{"full fine-tuning", true, (6*p + attention) * seq * rows},
	} {
		if got := finetune.StepFLOPs(m, c.full, layers, heads, headDim, seq, rows); got != c.want {
			t.Errorf("%s: %v FLOPs, want %v", c.name, got, c.want)
		}
	}
}
