package finetune_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/internal/runlock"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/boft"
	"github.com/orthotune/orthotune/peft/hra"
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

// TestCancelledRunResumesBitIdentical: for OFT, LoRA and BOFT with dropout, and HRA,
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
		{"boft", func() peft.Config {
			c := boft.NewConfig(peft.Pattern(peft.AllLinear))
			c.BlockSize, c.Factors, c.Dropout = 4, 2, 0.2
			return c
		}},
		{"hra", func() peft.Config {
			c := hra.NewConfig(peft.Names("q_proj", "up_proj"))
			c.R = 6
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
		{"negative replicas", func(j *finetune.Job) { j.Replicas = -1 }, "replicas"},
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

// copyDir copies a directory's files (not subdirectories).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestResumeRefusesChangedInputs: a checkpoint remembers the model's and
// the data's content and every setting; resuming with any of them changed
// is refused with a message naming it — even a model or data file of the
// same size — unless ResumeIgnoreChanges says otherwise.
func TestResumeRefusesChangedInputs(t *testing.T) {
	root := t.TempDir()
	modelDir, dataPath, evalPath := filepath.Join(root, "model"), filepath.Join(root, "train.jsonl"), filepath.Join(root, "eval.jsonl")
	copyDir(t, tinyModel, modelDir)
	raw, _ := os.ReadFile(countData)
	if err := os.WriteFile(dataPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(raw, []byte("\n"))
	if err := os.WriteFile(evalPath, bytes.Join(lines[:10], nil), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "run")
	job := func() finetune.Job {
		j := finetune.NewJob(modelDir, dataPath, out)
		j.EvalData = evalPath
		j.Adapter = oft.NewConfig(peft.Names("q_proj", "v_proj"))
		j.Training.MaxSteps, j.Training.BatchSize, j.Training.SaveSteps = 6, 4, 3
		return j
	}
	interruptAt(t, job(), 3)
	sameSize := func(path string) func() {
		b, _ := os.ReadFile(path)
		changed := append([]byte(nil), b...)
		i := bytes.LastIndexByte(changed, '1')
		changed[i] = '2'
		return func() {
			if err := os.WriteFile(path, changed, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name, want string
		edit       func(*finetune.Job) func() // returns what to undo
	}{
		{"another model of the same architecture and size", "model changed", func(*finetune.Job) func() {
			path := filepath.Join(modelDir, "model.safetensors")
			orig, _ := os.ReadFile(path)
			changed := append([]byte(nil), orig...)
			changed[len(changed)-3] ^= 1 // a weight's low bits
			os.WriteFile(path, changed, 0o644)
			return func() { os.WriteFile(path, orig, 0o644) }
		}},
		{"other data of the same size", "data changed", func(*finetune.Job) func() {
			orig, _ := os.ReadFile(dataPath)
			sameSize(dataPath)()
			return func() { os.WriteFile(dataPath, orig, 0o644) }
		}},
		{"another eval set", "eval_data changed", func(*finetune.Job) func() {
			orig, _ := os.ReadFile(evalPath)
			sameSize(evalPath)()
			return func() { os.WriteFile(evalPath, orig, 0o644) }
		}},
		{"max_seq_length", "max_seq_length changed", func(j *finetune.Job) func() { j.MaxSeqLength = 32; return func() {} }},
		{"base_dtype", "base_dtype changed", func(j *finetune.Job) func() { j.BaseDType = "bf16"; return func() {} }},
		{"a method setting", "oft_block_size changed", func(j *finetune.Job) func() { j.Adapter.(*oft.Config).BlockSize = 16; return func() {} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := job()
			j.Resume = "latest"
			undo := tc.edit(&j)
			defer undo()
			_, err := finetune.Run(context.Background(), j)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("resumed with %s: %v; want a refusal naming %q", tc.name, err, tc.want)
			}
		})
	}
	j := job()
	j.Resume, j.MaxSeqLength, j.ResumeIgnoreChanges = "latest", 32, true
	if _, err := finetune.Run(context.Background(), j); err != nil {
		t.Fatalf("ResumeIgnoreChanges: %v", err)
	}
}

// TestFailedRunLeavesNothing: a new run that fails before its first
// checkpoint (a loss that overflows, a resume directory that does not
// exist) leaves no output directory to block the next run; a directory
// left by a run that never checkpointed is replaced by a new run.
func TestFailedRunLeavesNothing(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	j := finetune.NewJob(tinyModel, countData, out)
	j.Adapter = lora.NewConfig(peft.Names("q_proj", "v_proj"))
	j.Training.MaxSteps, j.Training.LearningRate, j.Training.MaxGradNorm = 20, 1e30, 0
	_, err := finetune.Run(context.Background(), j)
	var nf *train.NonFiniteError
	if !errors.As(err, &nf) {
		t.Fatalf("err %v; want a non-finite loss", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the failed run left its output directory")
	}
	j = finetune.NewJob(tinyModel, countData, out)
	j.Adapter = lora.NewConfig(peft.Names("q_proj"))
	j.Resume = filepath.Join(t.TempDir(), "nonexistent")
	if _, err := finetune.Run(context.Background(), j); err == nil {
		t.Fatal("resumed from a directory that does not exist")
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the refused resume created the output directory")
	}
	// What a run killed before its first checkpoint leaves: metrics only.
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(out, train.MetricsFile), []byte(`{"step":0}`+"\n"), 0o644)
	j.Resume, j.Training.MaxSteps = "", 2
	if _, err := finetune.Run(context.Background(), j); err != nil {
		t.Fatalf("a directory left by a run that never checkpointed blocked the next: %v", err)
	}
}

// TestUntrainableRecordsAreDropped: records with no target token within
// max_seq_length are dropped when the data is read, so no batch lacks
// targets (with one record per batch, a dropped one would stop the run).
func TestUntrainableRecordsAreDropped(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data.jsonl")
	raw, _ := os.ReadFile(countData)
	// A record of a single token has nothing to predict.
	raw = append([]byte(`{"input_ids": [5]}`+"\n"), raw...)
	if err := os.WriteFile(data, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	var plan finetune.Plan
	j := finetune.NewJob(tinyModel, data, filepath.Join(root, "run"))
	j.Adapter = lora.NewConfig(peft.Names("q_proj"))
	j.Training.MaxSteps, j.Training.BatchSize, j.ValidationSplit = 41, 1, 0
	j.Report = planRecorder{&plan}
	if _, err := finetune.Run(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	if plan.Dropped != 1 || plan.TrainRows != 40 {
		t.Errorf("dropped %d, kept %d; want 1 and 40", plan.Dropped, plan.TrainRows)
	}
}

type planRecorder struct{ p *finetune.Plan }

func (r planRecorder) Begin(p finetune.Plan) { *r.p = p }
func (r planRecorder) Observe(train.Event)   {}
func (r planRecorder) End(finetune.Result)   {}

// TestSettingsFileReproducesTheRun: train_config.json holds every setting
// (paths absolute) and a run from it writes the same adapter.
func TestSettingsFileReproducesTheRun(t *testing.T) {
	root := t.TempDir()
	j := finetune.NewJob(tinyModel, countData, filepath.Join(root, "a"))
	c := lora.NewConfig(peft.Names("q_proj", "v_proj"))
	c.LoraDropout = 0.1
	j.Adapter = c
	j.Training.MaxSteps, j.Training.BatchSize, j.Training.GradientCheckpointing, j.BaseDType = 5, 4, true, "bf16"
	if _, err := finetune.Run(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(root, "a", finetune.TrainConfigFile))
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"assistant_only_loss", "base_dtype", "save_total_limit", "gradient_checkpointing", "replicas", "per_device_eval_batch_size", "lora_dropout"} {
		if _, ok := s[k]; !ok {
			t.Errorf("train_config.json lacks %s", k)
		}
	}
	for _, k := range []string{"model", "data"} {
		if p, _ := s[k].(string); !filepath.IsAbs(p) {
			t.Errorf("%s %q is not absolute", k, p)
		}
	}
}

// lockWatcher is a Reporter that records, at each step, who holds the
// output directory's lock.
type lockWatcher struct {
	dir     string
	holders *[]int
}

func (w lockWatcher) Begin(finetune.Plan) {}
func (w lockWatcher) End(finetune.Result) {}
func (w lockWatcher) Observe(e train.Event) {
	if e.Kind == "step" {
		h, _ := runlock.Check(w.dir)
		pid := 0
		if h != nil {
			pid = h.PID
		}
		*w.holders = append(*w.holders, pid)
	}
}

// A run holds its output directory's lock while it trains and removes it
// when done; a second run into a directory being written is refused with
// runlock.ErrBusy and touches nothing; a stale lock (a process killed on
// another machine) does not stop a resume.
func TestRunLocksItsOutputDir(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	job := finetune.NewJob(tinyModel, countData, out)
	job.Adapter = lora.NewConfig(peft.Names("q_proj"))
	job.Training.MaxSteps, job.Training.SaveSteps = 4, 2

	// Another writer holds the directory.
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	held, err := runlock.Acquire(out)
	if err != nil {
		t.Fatal(err)
	}
	_, err = finetune.Run(context.Background(), job)
	if !errors.Is(err, runlock.ErrBusy) || !strings.Contains(err.Error(), out) {
		t.Fatalf("a run into a locked directory: %v", err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 1 {
		t.Fatalf("the refused run wrote into the directory: %d entries", len(entries))
	}
	held.Release()

	var holders []int
	job.Report = lockWatcher{dir: out, holders: &holders}
	if _, err := finetune.Run(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if len(holders) != 4 {
		t.Fatalf("observed %d steps, want 4", len(holders))
	}
	for i, pid := range holders {
		if pid != os.Getpid() {
			t.Fatalf("step %d: the lock is held by %d, want this process (%d)", i+1, pid, os.Getpid())
		}
	}
	if _, err := os.Stat(filepath.Join(out, runlock.FileName)); !os.IsNotExist(err) {
		t.Fatalf("the finished run left its lock: %v", err)
	}

	// A stale lock of another machine: the resume takes it over.
	if err := os.Remove(filepath.Join(out, train.StateFile)); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(out, runlock.FileName)
	os.WriteFile(stale, []byte(`{"pid":4242,"host":"gone.example","started":"2026-01-01T00:00:00Z"}`), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)
	job.Resume, job.Report = "latest", nil
	if _, err := finetune.Run(context.Background(), job); err != nil {
		t.Fatalf("resume over a stale lock: %v", err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("the resumed run left a lock: %v", err)
	}
}
