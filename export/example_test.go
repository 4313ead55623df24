package export_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/orthotune/orthotune/export"
	"github.com/orthotune/orthotune/gguf"
	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/tokenizer"
)

// Export a tiny random Llama with a byte-level tokenizer to GGUF at q8_0
// and look at the file.
func ExampleGGUF() {
	dir, _ := os.MkdirTemp("", "export-example")
	defer os.RemoveAll(dir)
	modelDir := filepath.Join(dir, "tiny-llama")
	if _, err := testmodel.Write(modelDir, testmodel.Spec{ModelType: "llama", Vocab: 256, Hidden: 64, Heads: 4, Layers: 2, Intermediate: 128}); err != nil {
		panic(err)
	}
	tok := tokenizer.TrainByteLevelBPE([]string{"hello world"}, 256, nil)
	if err := tok.WriteFile(modelDir); err != nil {
		panic(err)
	}

	res, err := export.GGUF(export.GGUFOptions{ModelDir: modelDir, Out: filepath.Join(dir, "tiny.gguf"), Type: gguf.Q8_0})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Architecture, res.Tensors, "tensors:", res.Types[gguf.Q8_0], "Q8_0,", res.Types[gguf.F32], "F32")

	f, err := gguf.Open(res.Path)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	pre, _ := f.Value("tokenizer.ggml.pre")
	q, _ := f.Tensor("blk.0.attn_q.weight")
	fmt.Println(pre, q.Dims, q.Type)
	// Output:
	// llama 21 tensors: 16 Q8_0, 5 F32
	// gpt-2 [64 64] Q8_0
}
