package nn_test

import (
	"fmt"

	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

// A Linear layer's forward and backward; only a trainable weight gets a
// gradient.
func ExampleLinear() {
	w, _ := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3) // (out, in)
	l, _ := nn.NewLinear("proj", w, nil, false)
	l.Weight.SetTrainable(true)
	x, _ := tensor.FromSlice([]float32{1, 0, -1}, 1, 3)
	y := l.Forward(x)
	dy, _ := tensor.FromSlice([]float32{1, 1}, 1, 2)
	dx := l.Backward(dy)
	fmt.Println(y.Data, dx.Data, l.Weight.Grad.Data)
	// Output: [-2 -2] [5 7 9] [1 0 -1 1 0 -1]
}

// Mean next-token cross-entropy over uniform logits is log(vocab).
func ExampleCrossEntropy() {
	ids := [][]int{{3, 1, 2}}
	logits := tensor.New(1, 3, 4) // all zeros: uniform over 4 tokens
	var ce nn.CrossEntropy
	loss, n, _ := ce.Forward(logits, nn.ShiftedTargets(ids))
	fmt.Printf("%.4f over %d targets\n", loss, n)
	// Output: 1.3863 over 2 targets
}
