package export

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/orthotune/orthotune/gguf"
	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tokenizer"
)

// BenchmarkGGUFSmolLM2 exports a randomly initialised model of
// SmolLM2-135M's shape (30 layers, hidden 576, 9 query and 3 key/value
// heads, intermediate 1536, vocabulary 49152, tied head) stored as BF16 as
// the real checkpoint is, in each output type, and reports the file size.
// The tokenizer is a 256-token byte-level BPE, padded to the vocabulary
// with [PAD] tokens as the converter pads.
//
//	go test ./export -run '^$' -bench GGUFSmolLM2 -benchtime 3x
func BenchmarkGGUFSmolLM2(b *testing.B) {
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	dir := b.TempDir()
	modelDir := filepath.Join(dir, "smollm2-135m-shape")
	spec := testmodel.Spec{ModelType: "llama", Layers: 30, Hidden: 576, Heads: 9, KVHeads: 3, Intermediate: 1536,
		Vocab: 49152, Positions: 8192, Tied: true, Std: 0.02, Seed: 1, DType: safetensors.BF16}
	if _, err := testmodel.Write(modelDir, spec); err != nil {
		b.Fatal(err)
	}
	if err := tokenizer.TrainByteLevelBPE([]string{"hello"}, 256, nil).WriteFile(modelDir); err != nil {
		b.Fatal(err)
	}
	for _, typ := range []gguf.TensorType{gguf.F32, gguf.F16, gguf.BF16, gguf.Q8_0} {
		b.Run(typ.String(), func(b *testing.B) {
			out := filepath.Join(dir, typ.String()+".gguf")
			var size int64
			for b.Loop() {
				res, err := GGUF(GGUFOptions{ModelDir: modelDir, Out: out, Type: typ, Force: true})
				if err != nil {
					b.Fatal(err)
				}
				size = res.Bytes
			}
			b.ReportMetric(float64(size)/1e6, "MB")
			os.Remove(out)
		})
	}
}
