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

// ExampleGemmBlockDiag rotates each half of two 4-wide rows by its own 2×2
// block (a quarter turn, then a swap), as OFT rotates a layer's input, and
// takes the blocks' gradient for an upstream gradient of ones.
func ExampleGemmBlockDiag() {
	x := []float32{
		1, 2, 3, 4,
		5, 6, 7, 8,
	}
	blocks := []float32{
		0, 1, // block 0: (a, b) → (−b, a)
		-1, 0,
		0, 1, // block 1: (a, b) → (b, a)
		1, 0,
	}
	y := make([]float32, 2*4)
	kernels.GemmBlockDiag(2, 2, 2, x, 4, blocks, y, 4)
	fmt.Println(y)

	ones := []float32{1, 1, 1, 1, 1, 1, 1, 1}
	grad := make([]float32, 2*2*2)
	kernels.GemmBlockDiagGrad(2, 2, 2, x, 4, ones, 4, grad)
	fmt.Println(grad)
	// Output:
	// [-2 1 4 3 -6 5 8 7]
	// [6 6 8 8 10 10 12 12]
}
