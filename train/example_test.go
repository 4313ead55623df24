package train_test

import (
	"fmt"

	"github.com/orthotune/orthotune/train"
)

// A cosine schedule with 10 warmup steps over 110 updates: the learning
// rate rises linearly from 0, peaks, and decays to 0.
func ExampleSchedule() {
	s := train.Schedule{Kind: train.Cosine, WarmupSteps: 10, TotalSteps: 110}
	for _, step := range []int{0, 5, 10, 60, 110} {
		fmt.Printf("update %3d: %.2f × learning rate\n", step, s.Factor(step))
	}
	// Output:
	// update   0: 0.00 × learning rate
	// update   5: 0.50 × learning rate
	// update  10: 1.00 × learning rate
	// update  60: 0.50 × learning rate
	// update 110: 0.00 × learning rate
}
