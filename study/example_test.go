package study_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	_ "github.com/orthotune/orthotune/model/llama"
	_ "github.com/orthotune/orthotune/peft/oft"
	"github.com/orthotune/orthotune/study"
)

// A tiny study on the Llama of the project's testdata: full fine-tuning
// and OFT at OFT block 32's budget, one learning rate and one seed each,
// 4 steps evaluated every 2. Compare writes compare.json, compare.csv,
// the figures and report.md into the study directory.
func Example() {
	dir, err := os.MkdirTemp("", "study")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	cfg := study.DefaultConfig()
	cfg.Model = filepath.Join("..", "testdata", "peft-ref", "model", "llama")
	cfg.Data = filepath.Join("..", "testdata", "finetune", "count.jsonl")
	cfg.EvalData = filepath.Join("..", "testdata", "study", "count_eval.jsonl")
	cfg.RetainData = filepath.Join("..", "testdata", "study", "retain.jsonl")
	cfg.Methods = []string{"full", "oft"}
	cfg.LearningRates = map[string][]float64{"full": {1e-3}, "oft": {1e-2}}
	cfg.Seeds, cfg.Steps, cfg.EvalInterval, cfg.BatchSize, cfg.EvalBatchSize = 1, 4, 2, 4, 4
	cfg.OutputDir = filepath.Join(dir, "study")

	res, err := study.Compare(context.Background(), cfg, study.Options{})
	if err != nil {
		panic(err)
	}
	for _, s := range res.Sizes {
		fmt.Printf("%s: %q, %d trainable parameters\n", s.Method, s.Setting, s.Params)
	}
	for _, r := range res.Runs {
		first, last := r.Points[0], r.Points[len(r.Points)-1]
		fmt.Printf("%s: %d evaluation points, task loss fell: %v\n", filepath.ToSlash(r.Dir), len(r.Points), last.TaskLoss < first.TaskLoss)
	}
	_, err = os.Stat(filepath.Join(cfg.OutputDir, study.ReportFile))
	fmt.Println("report.md written:", err == nil)
	// Output:
	// full: "", 106816 trainable parameters
	// oft: "oft_block_size=32", 15872 trainable parameters
	// runs/full-lr0.001-s1: 3 evaluation points, task loss fell: true
	// runs/oft-32-lr0.01-s1: 3 evaluation points, task loss fell: true
	// report.md written: true
}
