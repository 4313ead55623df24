package tensor_test

import (
	"fmt"

	"github.com/orthotune/orthotune/tensor"
)

func ExampleRoundBF16() {
	x := float32(1.0 / 3)
	fmt.Println(tensor.RoundBF16(x), tensor.F16ToF32(tensor.F32ToF16(x)))
	// Output: 0.33398438 0.33325195
}

func ExampleTensor_Reshape() {
	t := tensor.New(2, 3, 4)
	fmt.Println(t.Reshape(-1, 4).Shape, t.Len())
	// Output: [6 4] 24
}
