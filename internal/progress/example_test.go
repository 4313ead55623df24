package progress_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/orthotune/orthotune/internal/progress"
)

// A training loop logging to a file or a pipe: one line every 50 steps,
// an evaluation result in between, and the final state from Finish.
func Example() {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	plain := false
	bar := progress.New(os.Stdout, progress.Options{
		Label:      "train",
		Total:      200,
		EverySteps: 50,
		Now:        func() time.Time { return now }, // a fake clock: each step takes 0.5 s
		ForceTTY:   &plain,
	})
	for step := 1; step <= 180; step++ {
		now = now.Add(500 * time.Millisecond)
		bar.AddTokens(1024)
		bar.Update(step,
			progress.Field{Name: "loss", Value: 4 / (1 + float64(step)/50), Format: "%.4f"},
			progress.Field{Name: "lr", Value: 2e-4 * (1 - float64(step)/200), Format: "%.1e"})
		if step == 100 {
			bar.Log("eval step %d: loss=%.4f", step, 2.1)
		}
	}
	bar.Finish() // stopped early, at step 180
	// Output:
	// train step 1/200 loss=3.9216 lr=2.0e-04 tok/s=2048 elapsed=1s eta=1m40s
	// train step 50/200 loss=2.0000 lr=1.5e-04 tok/s=2048 elapsed=25s eta=1m15s
	// train step 100/200 loss=1.3333 lr=1.0e-04 tok/s=2048 elapsed=50s eta=50s
	// eval step 100: loss=2.1000
	// train step 150/200 loss=1.0000 lr=5.0e-05 tok/s=2048 elapsed=1m15s eta=25s
	// train step 180/200 loss=0.8696 lr=2.0e-05 tok/s=2048 elapsed=1m30s
}

// On a terminal the bar redraws one line in place; here the output goes
// to a buffer and the last redraw is shown without its control codes.
func Example_terminal() {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tty := true
	var out bytes.Buffer
	bar := progress.New(&out, progress.Options{
		Label:    "train",
		Total:    200,
		Now:      func() time.Time { return now },
		ForceTTY: &tty,
		Width:    88,
	})
	now = now.Add(41 * time.Second)
	bar.AddTokens(75563)
	bar.Update(74, progress.Field{Name: "loss", Value: 2.4312})
	redraws := strings.Split(out.String(), "\r\x1b[K")
	fmt.Println(redraws[len(redraws)-1])
	// Output:
	// train  37% [███████▍            ] step 74/200 · loss 2.4312 · 1,843 tok/s · 0:41 < 1:10
}
