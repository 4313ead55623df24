package gguf_test

import (
	"bytes"
	"fmt"

	"github.com/orthotune/orthotune/gguf"
)

// Write a file with two metadata pairs and one Q8_0 tensor, and read it
// back.
func Example() {
	var buf bytes.Buffer
	w := gguf.NewWriter(&buf)
	w.AddKV("general.architecture", "llama")
	w.AddKV("llama.block_count", uint32(2))
	w.AddTensor("blk.0.ffn_up.weight", gguf.Q8_0, 32, 2) // 2 rows of 32
	if err := w.WriteHeader(); err != nil {
		panic(err)
	}
	x := make([]float32, 64)
	for i := range x {
		x[i] = float32(i) / 8
	}
	if err := w.WriteTensor(x); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}

	f, err := gguf.Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		panic(err)
	}
	arch, _ := f.Value("general.architecture")
	ti, _ := f.Tensor("blk.0.ffn_up.weight")
	y, _ := f.Float32(ti.Name)
	fmt.Println(arch, ti.Dims, ti.Type, len(buf.Bytes()))
	fmt.Printf("%.4f %.4f\n", y[1], y[63])
	// Output:
	// llama [32 2] Q8_0 288
	// 0.1221 7.8755
}
