package kernels_test

import (
	"fmt"

	"github.com/orthotune/orthotune/kernels"
)

// ExampleGemm multiplies a 2×3 matrix by a 3×2 matrix, then accumulates the
// product of the first matrix with its own transpose into a padded C.
func ExampleGemm() {
	a := []float32{
		1, 2, 3,
		4, 5, 6,
	}
	b := []float32{
		7, 8,
		9, 10,
		11, 12,
	}
	c := make([]float32, 2*2)
	// C = A·B (m=2, n=2, k=3); beta = 0 overwrites C.
	kernels.Gemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	fmt.Println(c)

	// D = 0.5·A·Aᵀ + D, with D stored 2×2 inside rows of stride 3: the
	// third column is outside the matrix and left alone.
	d := []float32{
		1, 1, -1,
		1, 1, -1,
	}
	kernels.Gemm(false, true, 2, 2, 3, 0.5, a, 3, a, 3, 1, d, 3)
	fmt.Println(d)
	// Output:
	// [58 64 139 154]
	// [8 17 -1 17 39.5 -1]
}
