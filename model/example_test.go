package model_test

import (
	"fmt"
	"path/filepath"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
)

// Load a Hugging Face model directory, run it, and take the next-token loss
// (PyTorch's float64 reference for these ids: 5.671254).
func ExampleLoad() {
	m, err := model.Load(filepath.Join(testref.Dir(), "model", "llama"))
	if err != nil {
		panic(err)
	}
	ids := [][]int{
		{135, 96, 242, 72, 133, 141, 33, 108, 63, 221, 234, 12, 136, 135, 246, 135},
		{100, 67, 49, 12, 99, 19, 128, 53, 170, 59, 54, 52, 87, 215, 154, 65},
	}
	logits, err := m.Forward(ids)
	if err != nil {
		panic(err)
	}
	var ce nn.CrossEntropy
	loss, _, _ := ce.Forward(logits, nn.ShiftedTargets(ids))
	fmt.Println(m.Info().ModelType, logits.Shape, len(m.Linears()))
	fmt.Printf("loss %.6f\n", loss)
	// Output:
	// llama [2 16 256] 15
	// loss 5.671254
}
