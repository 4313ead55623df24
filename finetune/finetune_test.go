package finetune_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/lora"
	"github.com/orthotune/orthotune/peft/oft"
	"github.com/orthotune/orthotune/train"
)

var (
	tinyModel = filepath.Join("..", "testdata", "peft-ref", "model", "llama")
	countData = filepath.Join("..", "testdata", "finetune", "count.jsonl")
)

// cancelAfter is a Reporter that cancels the run's context once it has
// seen step n.
type cancelAfter struct {
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Begin(finetune.Plan) {}
func (c *cancelAfter) End(finetune.Result) {}
func (c *cancelAfter) Observe(e train.Event) {
	if e.Kind == "step" && e.Record.Step == c.n {
		c.cancel()
	}
}

// interruptAt runs job, cancelling it after step n, and checks that it
// stopped there with a checkpoint.
func interruptAt(t *testing.T, job finetune.Job, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	job.Report = &cancelAfter{n: n, cancel: cancel}
	_, err := finetune.Run(ctx, job)
	var ie *train.InterruptedError
	if !errors.As(err, &ie) || !errors.Is(err, context.Canceled) || ie.Step != n {
		t.Fatalf("interrupted run: %v; want an InterruptedError at step %d", err, n)
	}
	if _, err := os.Stat(filepath.Join(ie.Checkpoint, train.StateFile)); err != nil {
		t.Fatalf("no checkpoint at the interruption: %v", err)
	}
	if _, err := os.Stat(filepath.Join(job.OutputDir, peft.WeightsFile)); err == nil {
		t.Fatal("the interrupted run wrote its final adapter")
	}
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s and %s differ", a, b)
	}
}

// TestCancelledRunResumesBitIdentical: for OFT and LoRA with dropout,
// cancelling the context mid-run leaves a checkpoint at that step (not one
// save_steps would have written), and resuming from it writes the adapter
// an uninterrupted run writes, byte for byte.
func TestCancelledRunResumesBitIdentical(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func() peft.Config
	}{
		{"oft", func() peft.Config {
			c := oft.NewConfig(peft.Pattern(peft.AllLinear))
			c.BlockSize, c.ModuleDropout = 16, 0.2
			return c
		}},
		{"lora", func() peft.Config {
			c := lora.NewConfig(peft.Names("q_proj", "v_proj"))
			c.LoraDropout = 0.1
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := func(out string) finetune.Job {
				j := finetune.NewJob(tinyModel, countData, out)
				j.Adapter = tc.cfg()
				j.Training.MaxSteps, j.Training.LearningRate, j.Training.BatchSize, j.Training.SaveSteps = 10, 1e-2, 4, 4
				return j
			}
			root := t.TempDir()
			whole := filepath.Join(root, "whole")
			if _, err := finetune.Run(context.Background(), job(whole)); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{peft.ConfigFile, peft.WeightsFile, train.StateFile, train.MetricsFile, finetune.LossPlotFile, finetune.TrainConfigFile, "checkpoint-4", "checkpoint-8"} {
				if _, err := os.Stat(filepath.Join(whole, name)); err != nil {
					t.Errorf("the output directory lacks %s", name)
				}
			}
			cut := filepath.Join(root, "cut")
			interruptAt(t, job(cut), 7)
			again := job(cut)
			again.Resume = "latest"
			if _, err := finetune.Run(context.Background(), again); err != nil {
				t.Fatal(err)
			}
			sameFile(t, filepath.Join(whole, peft.WeightsFile), filepath.Join(cut, peft.WeightsFile))
		})
	}
}

// TestRunRefusals: bad jobs fail before the output directory exists, with
// messages that name the setting.
func TestRunRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*finetune.Job)
		want string
	}{
		{"no output dir", func(j *finetune.Job) { j.OutputDir = "" }, "output_dir"},
		{"sequence too long", func(j *finetune.Job) { j.MaxSeqLength = 4096 }, "max_seq_length"},
		{"bad learning rate", func(j *finetune.Job) { j.Training.LearningRate = -1 }, "learning_rate"},
		{"bad base dtype", func(j *finetune.Job) { j.BaseDType = "f8" }, "base_dtype"},
		{"full in bf16", func(j *finetune.Job) { j.Adapter, j.BaseDType = nil, "bf16" }, "base_dtype"},
		{"bad method setting", func(j *finetune.Job) { j.Adapter.(*oft.Config).ModuleDropout = 2 }, "module_dropout"},
		{"resume nothing", func(j *finetune.Job) { j.Resume = "latest" }, "resume"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			j := finetune.NewJob(tinyModel, countData, out)
			j.Adapter = oft.NewConfig(peft.Names("q_proj"))
			j.Training.MaxSteps = 2
			tc.edit(&j)
			_, err := finetune.Run(context.Background(), j)
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("error %v; want one naming %s", err, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("the refused run created its output directory")
			}
		})
	}
}
