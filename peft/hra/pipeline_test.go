package hra_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/hra"
	"github.com/orthotune/orthotune/tensor"
	"github.com/orthotune/orthotune/train"
)

// stopAfter cancels a run once it has seen step n.
type stopAfter struct {
	n      int
	cancel context.CancelFunc
}

func (s *stopAfter) Begin(finetune.Plan) {}
func (s *stopAfter) End(finetune.Result) {}
func (s *stopAfter) Observe(e train.Event) {
	if e.Kind == "step" && e.Record.Step == s.n {
		s.cancel()
	}
}

// TestThroughThePipeline: HRA (with and without Gram–Schmidt) trains
// through finetune.Run on two data-parallel replicas (ShareStep), lowers
// the evaluation loss, resumes bit-identically after an interruption,
// loads back, merges to the same logits, and is inspected from its files.
func TestThroughThePipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny model")
	}
	tiny := filepath.Join(testref.Dir(), "model", "llama")
	data := filepath.Join(testref.Dir(), "..", "finetune", "count.jsonl")
	for _, gs := range []bool{false, true} {
		newJob := func(out string) finetune.Job {
			job := finetune.NewJob(tiny, data, out)
			m, _ := peft.LookupMethod("hra")
			cfg := m.TrainingConfig().(*hra.Config)
			cfg.TargetModules, cfg.R, cfg.ApplyGS = peft.Pattern(peft.AllLinear), 4, gs
			job.Adapter = cfg
			job.Training.MaxSteps, job.Training.LearningRate, job.Training.BatchSize, job.Training.SaveSteps = 8, 2e-2, 4, 4
			job.Replicas = 2
			return job
		}
		root := t.TempDir()
		whole := filepath.Join(root, "whole")
		res, err := finetune.Run(context.Background(), newJob(whole))
		if err != nil {
			t.Fatal(err)
		}
		log := res.State.LogHistory
		if first, last := *log[0].EvalLoss, *log[len(log)-1].EvalLoss; !(last < first) {
			t.Errorf("gs=%v: evaluation loss %g → %g: HRA did not learn", gs, first, last)
		}
		cut := filepath.Join(root, "cut")
		ctx, cancel := context.WithCancel(context.Background())
		job := newJob(cut)
		job.Report = &stopAfter{n: 5, cancel: cancel}
		_, err = finetune.Run(ctx, job)
		cancel()
		var ie *train.InterruptedError
		if !errors.As(err, &ie) {
			t.Fatalf("gs=%v: interrupted run: %v", gs, err)
		}
		resumed := newJob(cut)
		resumed.Resume = "latest"
		if _, err := finetune.Run(context.Background(), resumed); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(filepath.Join(whole, peft.WeightsFile))
		b, _ := os.ReadFile(filepath.Join(cut, peft.WeightsFile))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("gs=%v: the resumed run's adapter differs from the uninterrupted one's", gs)
		}

		pm, ad, err := finetune.LoadAdapted(tiny, whole)
		if err != nil {
			t.Fatal(err)
		}
		ids := [][]int{{1, 2, 3, 4, 5, 6}}
		adapted, err := pm.Forward(ids)
		if err != nil {
			t.Fatal(err)
		}
		adapted = adapted.Clone()
		if err := pm.Merge(); err != nil {
			t.Fatal(err)
		}
		merged, _ := pm.Forward(ids)
		if d := tensor.MaxAbsDiff(adapted.Data, merged.Data); d > 1e-4 {
			t.Errorf("gs=%v: merged logits differ by %g", gs, d)
		}
		rep, err := peft.InspectDir(whole)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Method != "HRA" || len(rep.Layers) != len(ad.Modules) {
			t.Errorf("gs=%v: report %+v", gs, rep)
		}
	}
}
