package study

import (
	"context"
	"encoding/json"
	iofs "io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/internal/runlock"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/llama"
	_ "github.com/orthotune/orthotune/peft/boft"
	_ "github.com/orthotune/orthotune/peft/hra"
	_ "github.com/orthotune/orthotune/peft/lora"
	_ "github.com/orthotune/orthotune/peft/oft"
	"github.com/orthotune/orthotune/train"
)

const testModel = "../testdata/peft-ref/model/llama"

// Every method's chosen size lands within ±15% of the default budget
// (OFT block 32's count) on the test model.
func TestMatchBudget(t *testing.T) {
	m, err := model.Load(testModel)
	if err != nil {
		t.Fatal(err)
	}
	budget, err := DefaultBudget(m, "all-linear")
	if err != nil {
		t.Fatal(err)
	}
	sizes, err := MatchBudget(m, DefaultMethods(), budget, 0.15, "all-linear", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) != len(DefaultMethods()) {
		t.Fatalf("%d sizes for %d methods", len(sizes), len(DefaultMethods()))
	}
	for _, s := range sizes {
		t.Logf("%-5s %-45s %6d  %s", s.Method, s.Setting, s.Params, s.Skipped)
		if s.Skipped != "" {
			t.Errorf("%s skipped: %s", s.Method, s.Skipped)
			continue
		}
		if s.Method == finetune.FullMethod {
			if s.Params != m.Info().Parameters && s.Params < budget {
				t.Errorf("full: %d parameters", s.Params)
			}
			continue
		}
		if d := math.Abs(float64(s.Params)/float64(budget) - 1); d > 0.15 {
			t.Errorf("%s: %s gives %d, %.0f%% from %d", s.Method, s.Setting, s.Params, 100*d, budget)
		}
		// The count is the one a training run reports.
		n, err := CountParams(m, s.Method, s.Flags, "all-linear")
		if err != nil || n != s.Params {
			t.Errorf("%s: CountParams = %d, %v; want %d", s.Method, n, err, s.Params)
		}
	}
	if sizes[0].Method != finetune.FullMethod || sizes[0].Params <= budget {
		t.Errorf("full fine-tuning first with the model's count: %+v", sizes[0])
	}
	// A budget no size reaches is reported with the nearest sizes.
	s, err := MatchBudget(m, []string{"lora"}, 10, 0.15, "all-linear", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s[0].Skipped, "nearest") || !strings.Contains(s[0].Skipped, "r=1") {
		t.Errorf("unreachable budget: %q", s[0].Skipped)
	}
}

func tinyConfig(t *testing.T, dir string) Config {
	c := DefaultConfig()
	c.Model, c.Data, c.EvalData, c.RetainData = testModel, "../testdata/finetune/count.jsonl", "../testdata/study/count_eval.jsonl", "../testdata/study/retain.jsonl"
	c.Methods = []string{"full", "oft"}
	c.LearningRates = map[string][]float64{"full": {1e-3}, "oft": {1e-2}}
	c.Seeds, c.Steps, c.EvalInterval, c.WarmupSteps, c.BatchSize, c.EvalBatchSize = 2, 4, 2, 1, 4, 4
	c.OutputDir = dir
	return c
}

// A tiny study end to end: runs, points, outputs; the same study again
// and a resumed one give identical compare.json.
func TestCompareEndToEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "study")
	cfg := tinyConfig(t, dir)
	res, err := Compare(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 4 {
		t.Fatalf("%d runs, want 4", len(res.Runs))
	}
	for _, r := range res.Runs {
		if len(r.Points) != 3 || r.Points[0] != res.Base || r.Points[1].Step != 2 || r.Points[2].Step != 4 {
			t.Errorf("%s: points %+v", r.Dir, r.Points)
		}
		if !(r.Points[2].TaskLoss < r.Points[0].TaskLoss) {
			t.Errorf("%s: task loss did not fall: %+v", r.Dir, r.Points)
		}
		if r.Points[2].TaskExact != nil {
			t.Errorf("%s: exact answers counted on input_ids data, which has no answers", r.Dir)
		}
	}
	if res.Runs[0].Dir != filepath.Join("runs", "full-lr0.001-s1") || res.Runs[2].Dir != filepath.Join("runs", "oft-32-lr0.01-s1") {
		t.Errorf("run dirs %s, %s", res.Runs[0].Dir, res.Runs[2].Dir)
	}
	for _, f := range []string{CompareFile, CSVFile, ReportFile, StudyFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	// Each method's best run, layer by layer: OFT (exact rotations of the
	// inputs, merged into the weights) keeps the neurons' angles and the
	// norms to rounding; full fine-tuning moves both.
	if len(res.Layers) != 2 {
		t.Fatalf("layer changes for %d methods, want 2", len(res.Layers))
	}
	for _, m := range res.Layers {
		if len(m.Layers) == 0 {
			t.Fatalf("%s: no layers", m.Method)
		}
		switch m.Method {
		case "oft":
			if m.EnergyChangeMaxAbs > 1e-4 || m.NormChangeMaxAbs > 1e-3 {
				t.Errorf("OFT changed the energy by up to %g, the norms by up to %g (relative)", m.EnergyChangeMaxAbs, m.NormChangeMaxAbs)
			}
		case "full":
			if m.NormChangeMaxAbs == 0 || m.EnergyChangeMaxAbs == 0 {
				t.Errorf("full fine-tuning left every layer's norm and energy as they were: %+v", m)
			}
		}
	}
	csv, _ := os.ReadFile(filepath.Join(dir, CSVFile))
	if n := strings.Count(string(csv), "\n"); n != 1+4*3 {
		t.Errorf("compare.csv has %d lines, want 13", n)
	}
	first, _ := os.ReadFile(filepath.Join(dir, CompareFile))

	// The same study in another directory gives the same numbers.
	cfg2 := tinyConfig(t, filepath.Join(t.TempDir(), "again"))
	res2, err := Compare(context.Background(), cfg2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Runs, res2.Runs) {
		t.Error("the same study twice gave different runs")
	}

	// Delete one run's marker and its final output: the run is resumed
	// from its checkpoint and compare.json comes out identical.
	run := filepath.Join(dir, res.Runs[3].Dir)
	for _, name := range []string{MarkerFile, "trainer_state.json", finetune.TrainConfigFile} {
		if err := os.Remove(filepath.Join(run, name)); err != nil {
			t.Fatal(err)
		}
	}
	// And one run only loses its marker: it is evaluated again.
	if err := os.Remove(filepath.Join(dir, res.Runs[0].Dir, MarkerFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Compare(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(filepath.Join(dir, CompareFile))
	if string(again) != string(first) {
		t.Errorf("resumed study's compare.json differs:\n%s\nvs\n%s", again, first)
	}

	// Other settings in the same directory are refused.
	cfg.Steps = 6
	if _, err := Compare(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("changed settings: %v", err)
	}
}

// Plan's command lines name every unfinished run once, each with its own
// output directory.
func TestPlan(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "study")
	cmds, err := Plan(tinyConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) != 4 {
		t.Fatalf("%d commands, want 4", len(cmds))
	}
	seen := map[string]bool{}
	for _, c := range cmds {
		line := c.Line("orthotune")
		if !strings.HasPrefix(line, "orthotune train --model ") || !strings.Contains(line, "--save-steps 2") {
			t.Errorf("line %s", line)
		}
		abs, _ := filepath.Abs(filepath.Join(dir, c.Dir))
		if !strings.Contains(line, "--output-dir "+abs+" ") || seen[c.Dir] {
			t.Errorf("output dir of %s", line)
		}
		seen[c.Dir] = true
	}
	if !strings.Contains(cmds[2].Line("x"), "--method oft --target-modules all-linear --oft-block-size 32") {
		t.Errorf("oft line %s", cmds[2].Line("x"))
	}
}

// Bad input is refused before anything is written.
func TestCompareRefuses(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.jsonl")
	os.WriteFile(empty, nil, 0o644)
	dir := filepath.Join(t.TempDir(), "study")
	cfg := tinyConfig(t, dir)
	cfg.RetainData = empty
	if _, err := Compare(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "retain data") {
		t.Errorf("empty retain data: %v", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("a refused study wrote its directory")
	}
	cfg = tinyConfig(t, dir)
	cfg.Methods = []string{"lora"}
	cfg.LearningRates = nil
	cfg.Budget = 10
	if _, err := Compare(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "nearest") {
		t.Errorf("unreachable budget: %v", err)
	}
	cfg.Methods = []string{"nope"}
	if _, err := Compare(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown method: %v", err)
	}
	b, _ := json.Marshal(cfg)
	_ = b
}

// Extra settings reach the runs, the counts and the command lines.
func TestMethodSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "study")
	cfg := tinyConfig(t, dir)
	cfg.Methods = []string{COFT}
	cfg.LearningRates = nil
	cfg.Seeds, cfg.Steps = 1, 2
	cfg.Settings = map[string]map[string]string{COFT: {"eps": "0.001"}}
	cmds, err := Plan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) != 2 || !strings.Contains(cmds[0].Line("o"), "--eps 0.001 --oft-block-size 32 --coft") {
		t.Fatalf("plan %v", cmds)
	}
	if _, err := Compare(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "runs", "coft-32-lr0.003-s1", "adapter_config.json"))
	if err != nil || !strings.Contains(string(b), `"eps": 0.001`) || !strings.Contains(string(b), `"coft": true`) {
		t.Errorf("adapter_config.json: %v\n%s", err, b)
	}
	cfg.Settings = map[string]map[string]string{COFT: {"no-such-flag": "1"}}
	if err := cfg.Validate(); err == nil {
		t.Error("an unknown setting was accepted")
	}

	// Without settings COFT gets the study's default radius, recorded in
	// study.json and the report; a study without COFT gets no settings.
	cfg.Settings, cfg.OutputDir = nil, filepath.Join(t.TempDir(), "default")
	if cmds, err = Plan(cfg); err != nil || !strings.Contains(cmds[0].Line("o"), "--eps 3 ") {
		t.Fatalf("plan with the default radius: %v %v", cmds, err)
	}
	if b, _ := os.ReadFile(filepath.Join(cfg.OutputDir, StudyFile)); !strings.Contains(string(b), `"eps": "3"`) {
		t.Errorf("study.json does not record the default radius:\n%s", b)
	}
	if got := tinyConfig(t, "x").resolved().Settings; got != nil {
		t.Errorf("a study without COFT has settings %v", got)
	}
}

// syncBuffer is a log that the test reads while Compare writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// copyRun copies a finished run's files (not its study marker) into dst.
func copyRun(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if rel == MarkerFile {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Runs that other processes are training (their directories locked) are
// waited for, not trained again: one that finishes elsewhere is collected
// as it is, one whose process stops before finishing is trained here; the
// result equals a study run in one go.
func TestCompareWaitsForRunsElsewhere(t *testing.T) {
	ref := tinyConfig(t, filepath.Join(t.TempDir(), "ref"))
	if _, err := Compare(context.Background(), ref, Options{}); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(ref.OutputDir, CompareFile))

	cfg := tinyConfig(t, filepath.Join(t.TempDir(), "shared"))
	cmds, err := Plan(cfg)
	if err != nil || len(cmds) != 4 {
		t.Fatalf("plan: %d commands, %v", len(cmds), err)
	}
	finishedElsewhere, abandoned := cmds[1].Dir, cmds[3].Dir
	var locks []*runlock.Lock
	for _, d := range []string{finishedElsewhere, abandoned} {
		os.MkdirAll(filepath.Join(cfg.OutputDir, d), 0o755)
		l, err := runlock.Acquire(filepath.Join(cfg.OutputDir, d))
		if err != nil {
			t.Fatal(err)
		}
		locks = append(locks, l)
	}
	var log syncBuffer
	type result struct {
		res *Result
		err error
	}
	got := make(chan result, 1)
	go func() {
		res, err := Compare(context.Background(), cfg, Options{Log: &log, Poll: 20 * time.Millisecond})
		got <- result{res, err}
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(log.String(), "waiting for 2 run(s)") {
		if time.Now().After(deadline) {
			t.Fatalf("Compare does not wait for the locked runs:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	copyRun(t, filepath.Join(ref.OutputDir, finishedElsewhere), filepath.Join(cfg.OutputDir, finishedElsewhere))
	locks[0].Release()
	locks[1].Release()
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	text := log.String()
	if strings.Contains(text, " "+finishedElsewhere+" (") {
		t.Errorf("the run finished elsewhere was trained again:\n%s", text)
	}
	if !strings.Contains(text, " "+abandoned+" (") {
		t.Errorf("the abandoned run was not trained here:\n%s", text)
	}
	if b, _ := os.ReadFile(filepath.Join(cfg.OutputDir, CompareFile)); string(b) != string(want) {
		t.Errorf("compare.json differs from the study run in one go:\n%s\nvs\n%s", b, want)
	}

	// --collect lists a run in flight as missing and does not wait.
	l, err := runlock.Acquire(filepath.Join(cfg.OutputDir, abandoned))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	os.Remove(filepath.Join(cfg.OutputDir, abandoned, MarkerFile))
	os.Remove(filepath.Join(cfg.OutputDir, abandoned, train.StateFile))
	res, err := Compare(context.Background(), cfg, Options{Collect: true})
	if err != nil || len(res.Missing) != 1 || res.Missing[0] != abandoned || len(res.Runs) != 3 {
		t.Fatalf("collect with a run in flight: %v, missing %v, %d runs", err, res.Missing, len(res.Runs))
	}
}

// An evaluated run keeps its checkpoints' weights, and the optimizer state
// of its newest checkpoint only.
func TestPruneOptimizerStates(t *testing.T) {
	dir := t.TempDir()
	for _, step := range []string{"2", "4", "10"} {
		ck := filepath.Join(dir, train.CheckpointPrefix+step)
		os.MkdirAll(ck, 0o755)
		for _, name := range []string{train.OptimizerFile, "adapter_model.safetensors", train.StateFile} {
			os.WriteFile(filepath.Join(ck, name), []byte("x"), 0o644)
		}
	}
	if err := pruneOptimizerStates(dir); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		step      string
		optimizer bool
	}{{"2", false}, {"4", false}, {"10", true}} {
		ck := filepath.Join(dir, train.CheckpointPrefix+c.step)
		_, err := os.Stat(filepath.Join(ck, train.OptimizerFile))
		if (err == nil) != c.optimizer {
			t.Errorf("checkpoint %s: optimizer state kept %v, want %v", c.step, err == nil, c.optimizer)
		}
		if _, err := os.Stat(filepath.Join(ck, "adapter_model.safetensors")); err != nil {
			t.Errorf("checkpoint %s lost its weights: %v", c.step, err)
		}
	}
}

// study.json records the inputs by content: a study continued after one
// of them changed in place is refused, naming it.
func TestChangedInputRefused(t *testing.T) {
	retain := filepath.Join(t.TempDir(), "retain.jsonl")
	b, err := os.ReadFile("../testdata/study/retain.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(retain, b, 0o644)
	cfg := tinyConfig(t, filepath.Join(t.TempDir(), "study"))
	cfg.RetainData = retain
	if _, err := Plan(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := Plan(cfg); err != nil {
		t.Fatalf("the same study again: %v", err)
	}
	os.WriteFile(retain, append(b, b...), 0o644)
	if _, err := Plan(cfg); err == nil || !strings.Contains(err.Error(), "retain data") || !strings.Contains(err.Error(), "changed since") {
		t.Fatalf("changed retain data: %v", err)
	}
}
