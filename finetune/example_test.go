package finetune_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/orthotune/orthotune/finetune"
	_ "github.com/orthotune/orthotune/model/llama"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/oft"
)

// Fine-tune an OFT adapter on every linear layer of a tiny Llama: the
// output directory holds a PEFT adapter, its metrics and its settings.
func Example() {
	out, _ := os.MkdirTemp("", "orthotune-example-*")
	defer os.RemoveAll(out)
	modelDir := filepath.Join("..", "testdata", "peft-ref", "model", "llama")
	job := finetune.NewJob(modelDir, filepath.Join("..", "testdata", "finetune", "count.jsonl"), filepath.Join(out, "run"))
	job.Adapter = oft.NewConfig(peft.Pattern(peft.AllLinear))
	job.Training.MaxSteps, job.Training.LearningRate, job.Training.BatchSize = 30, 1e-2, 4
	res, err := finetune.Run(context.Background(), job)
	if err != nil {
		panic(err)
	}
	log := res.State.LogHistory
	first, last := *log[0].EvalLoss, *log[len(log)-1].EvalLoss
	fmt.Printf("%d steps, %d trainable parameters, evaluation loss fell: %v\n", res.State.GlobalStep, res.Trainable, last < first)
	// Output:
	// 30 steps, 15872 trainable parameters, evaluation loss fell: true
}
