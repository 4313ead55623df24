package safetensors_test

import (
	"fmt"

	"github.com/orthotune/orthotune/safetensors"
)

func ExampleEncode() {
	data, err := safetensors.Encode([]safetensors.Entry{
		{Name: "weight", DType: safetensors.BF16, Shape: []int{2, 2}, Float: []float32{1, 0.5, -2, 3.14159}},
		{Name: "ids", DType: safetensors.I64, Shape: []int{3}, Int: []int64{7, 8, 9}},
	}, map[string]string{"format": "pt"})
	if err != nil {
		panic(err)
	}
	f, err := safetensors.Parse("example.safetensors", data)
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Names(), f.Metadata())
	w, _ := f.Float32("weight")
	fmt.Println(w.Shape, w.Data) // BF16 keeps 8 significant bits
	ids, shape, _ := f.Int64("ids")
	fmt.Println(shape, ids)
	_, err = f.Float32("bias")
	fmt.Println(err)
	// Output:
	// [ids weight] map[format:pt]
	// [2 2] [1 0.5 -2 3.140625]
	// [3] [7 8 9]
	// safetensors: example.safetensors: tensor "bias": tensor not found
}
