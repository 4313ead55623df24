package nn_test

import (
	"fmt"

	"github.com/orthotune/orthotune/nn"
)

// Decode with a key/value cache: a prefill of two positions, then one new
// token whose query attends to all three. A zero query weighs every
// position equally, so the output is the mean of the values.
func ExampleKVCache() {
	att, _ := nn.NewAttention(1, 1, 2) // one head of width 2
	cache := nn.NewKVCache(1, 1, 8, 2) // one layer, one row, up to 8 positions

	// Prefill: keys and values of positions 0 and 1 (rows of width 2).
	q := []float32{1, 0, 0, 1}
	k := []float32{1, 0, 0, 1}
	v := []float32{1, 0, 0, 1}
	cache.Append(0, nn.Strided{Data: k, Stride: 2}, nn.Strided{Data: v, Stride: 2}, 2)
	out := make([]float32, 4)
	att.ForwardCached(nn.Strided{Data: q, Stride: 2}, cache, 0, 2, out)
	cache.Commit(2)

	// One new token at position 2.
	cache.Append(0, nn.Strided{Data: []float32{5, 5}, Stride: 2}, nn.Strided{Data: []float32{2, 2}, Stride: 2}, 1)
	att.ForwardCached(nn.Strided{Data: []float32{0, 0}, Stride: 2}, cache, 0, 1, out[:2])
	cache.Commit(1)
	fmt.Println(cache.Len())
	fmt.Printf("%.3f %.3f\n", out[0], out[1])
	// Output:
	// 3
	// 1.000 1.000
}
