package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/gpt2"
	_ "github.com/orthotune/orthotune/model/llama"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/lora"
	"github.com/orthotune/orthotune/peft/oft"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

func TestScheduleFactors(t *testing.T) {
	cases := []struct {
		kind             string
		warmup, total, s int
		want             float64
	}{
		{Linear, 10, 110, 0, 0},
		{Linear, 10, 110, 5, 0.5},
		{Linear, 10, 110, 10, 1},
		{Linear, 10, 110, 60, 0.5},
		{Linear, 10, 110, 110, 0},
		{Cosine, 0, 100, 0, 1},
		{Cosine, 0, 100, 50, 0.5},
		{Cosine, 0, 100, 100, 0},
		{Cosine, 20, 120, 70, 0.5},
		{Constant, 0, 100, 0, 1},
		{Constant, 4, 100, 2, 0.5},
		{Constant, 4, 100, 99, 1},
		{ConstantWithWarmup, 4, 100, 1, 0.25},
	}
	for _, c := range cases {
		s := Schedule{Kind: c.kind, WarmupSteps: c.warmup, TotalSteps: c.total}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := s.Factor(c.s); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s warmup %d total %d: factor(%d) = %v, want %v", c.kind, c.warmup, c.total, c.s, got, c.want)
		}
	}
	if err := (Schedule{Kind: "polynomial", TotalSteps: 1}).Validate(); err == nil {
		t.Error("unknown schedule accepted")
	}
}

func param(name string, w, g []float32) NamedParam {
	wt := tensor.New(len(w))
	copy(wt.Data, w)
	p := nn.NewParam(name, wt)
	p.SetTrainable(true)
	copy(p.Grad.Data, g)
	return NamedParam{Name: name, Param: p, Decay: true}
}

// The first AdamW update from zero moments moves every weight by lr
// against the sign of its gradient (m̂/√v̂ = g/|g|), after decoupled decay.
func TestAdamWFirstStepIsSignStep(t *testing.T) {
	p := param("w", []float32{1, -2, 0.5, 3}, []float32{0.3, -4, 1e-3, -0.02})
	q := param("bias", []float32{1, 1}, []float32{1, -1})
	q.Decay = false
	opt, err := NewAdamW([]NamedParam{p, q}, 0.9, 0.999, 1e-12, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	lr := 0.01
	opt.Step(lr)
	w0 := []float64{1, -2, 0.5, 3}
	g := []float64{0.3, -4, 1e-3, -0.02}
	for i, w := range p.Param.W.Data {
		want := w0[i]*(1-lr*0.1) - lr*math.Copysign(1, g[i])
		if math.Abs(float64(w)-want) > 1e-6 {
			t.Errorf("w[%d] = %v, want %v", i, w, want)
		}
	}
	if math.Abs(float64(q.Param.W.Data[0])-(1-lr)) > 1e-6 || math.Abs(float64(q.Param.W.Data[1])-(1+lr)) > 1e-6 {
		t.Errorf("undecayed bias = %v, want [%v %v]", q.Param.W.Data, 1-lr, 1+lr)
	}
	// Second step with the same gradient: m̂ = g, v̂ = g², still a sign step.
	opt.Step(lr)
	want := (w0[1]*(1-lr*0.1)+lr)*(1-lr*0.1) + lr
	if got := float64(p.Param.W.Data[1]); math.Abs(got-want) > 1e-5 {
		t.Errorf("after two steps w[1] = %v, want %v", got, want)
	}
	if _, err := NewAdamW([]NamedParam{p}, 1, 0.999, 1e-8, 0); err == nil {
		t.Error("beta1 = 1 accepted")
	}
}

func TestClipGradNorm(t *testing.T) {
	p := param("a", []float32{0, 0}, []float32{3, 0})
	q := param("b", []float32{0}, []float32{4})
	ps := []NamedParam{p, q}
	if n := GlobalNorm(ps); n != 5 {
		t.Fatalf("norm = %v, want 5", n)
	}
	if n := ClipGradNorm(ps, 10); n != 5 || p.Param.Grad.Data[0] != 3 {
		t.Fatalf("clipping below the norm changed gradients: %v %v", n, p.Param.Grad.Data)
	}
	ClipGradNorm(ps, 1)
	if n := GlobalNorm(ps); math.Abs(n-1) > 1e-5 {
		t.Fatalf("norm after clipping to 1 = %v", n)
	}
}

func TestConfigValidateNamesField(t *testing.T) {
	for field, mutate := range map[string]func(*Config){
		"learning_rate":               func(c *Config) { c.LearningRate = 0 },
		"adam_beta2":                  func(c *Config) { c.AdamBeta2 = 1 },
		"per_device_train_batch_size": func(c *Config) { c.BatchSize = 0 },
		"gradient_accumulation_steps": func(c *Config) { c.GradientAccumulationSteps = 0 },
		"lr_scheduler_type":           func(c *Config) { c.LRSchedulerType = "step" },
		"num_train_epochs":            func(c *Config) { c.NumTrainEpochs = math.NaN() },
	} {
		c := DefaultConfig()
		mutate(&c)
		err := c.Validate()
		if err == nil || !contains(err.Error(), field) {
			t.Errorf("%s: error %v does not name the field", field, err)
		}
	}
	if got := (Config{NumTrainEpochs: 2.5, GradientAccumulationSteps: 2}).TotalSteps(7); got != 8 {
		t.Errorf("2.5 epochs of 7 batches with accumulation 2: %d steps, want ceil(2.5·3) = 8", got)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// fixture is a tiny model and a data set it can learn: each row is a
// repeating pattern that a two-layer model picks up in a few dozen steps.
type fixture struct {
	dir     string
	train   []data.Example
	eval    []data.Example
	modelFn func() model.CausalLM
}

func newFixture(t *testing.T, modelType string) fixture {
	t.Helper()
	dir := t.TempDir()
	if _, err := testmodel.Write(dir, testmodel.Spec{ModelType: modelType, Hidden: 32, Heads: 4, KVHeads: 2, Intermediate: 48, Layers: 2, Vocab: 24, Positions: 64, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(5)
	var examples []data.Example
	for range 48 {
		period := 2 + rng.IntN(3)
		pattern := make([]int, period)
		for i := range pattern {
			pattern[i] = rng.IntN(24)
		}
		ids := make([]int, 16)
		for i := range ids {
			ids[i] = pattern[i%period]
		}
		examples = append(examples, data.Example{InputIDs: ids, Labels: append([]int(nil), ids...)})
	}
	return fixture{dir: dir, train: examples[:40], eval: examples[40:], modelFn: func() model.CausalLM {
		m, err := model.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}}
}

func batches(examples []data.Example, size int) []data.Batch {
	l := data.NewLoader(examples, size, false, 0, 0)
	var out []data.Batch
	for range l.StepsPerEpoch() {
		out = append(out, l.Next())
	}
	return out
}

type runSpec struct {
	method     string
	cfg        Config
	out        string
	resumeFrom string
	replicas   int // Trainer.Replicas
}

// runOnce trains a fresh model as spec says and returns the trainer.
func (f fixture) runOnce(t *testing.T, s runSpec) (*Trainer, State, error) {
	t.Helper()
	m := f.modelFn()
	var target Target
	var run model.CausalLM = m
	switch s.method {
	case "full":
		ckpt, err := safetensors.OpenCheckpoint(f.dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ckpt.Close() })
		target = FullTarget(m, ckpt)
	default:
		var cfg peft.Config
		if s.method == "oft" {
			c := oft.NewConfig(peft.Pattern("all-linear"))
			c.BlockSize, c.ModuleDropout = 8, 0.1
			cfg = c
		} else {
			c := lora.NewConfig(peft.Pattern("all-linear"))
			c.R, c.LoraAlpha, c.LoraDropout = 4, 8, 0.1
			cfg = c
		}
		pm := peft.Wrap(m)
		a, err := pm.Add("default", cfg, tensor.NewRNG(s.cfg.Seed))
		if err != nil {
			t.Fatal(err)
		}
		run, target = pm, AdapterTarget(a)
	}
	if err := os.MkdirAll(s.out, 0o755); err != nil {
		t.Fatal(err)
	}
	tr := &Trainer{Config: s.cfg, Model: run, Target: target, Train: data.NewLoader(f.train, 4, true, s.cfg.Seed, 0),
		Eval: batches(f.eval, 4), OutputDir: s.out, Replicas: s.replicas}
	if s.resumeFrom != "" {
		if err := tr.Resume(s.resumeFrom); err != nil {
			t.Fatal(err)
		}
	}
	st, err := tr.Run(context.Background())
	return tr, st, err
}

func testConfig() Config {
	c := DefaultConfig()
	c.LearningRate, c.MaxSteps, c.WarmupSteps, c.LRSchedulerType = 2e-2, 30, 3, Cosine
	c.GradientAccumulationSteps, c.EvalSteps, c.WeightDecay, c.Seed = 2, 10, 0.01, 11
	return c
}

func firstLoss(st State) (first, last float64) {
	first = math.NaN()
	for _, r := range st.LogHistory {
		if r.Loss != nil {
			if math.IsNaN(first) {
				first = *r.Loss
			}
			last = *r.Loss
		}
	}
	return first, last
}

func TestTrainingLowersLossAndSavedAdapterReloads(t *testing.T) {
	f := newFixture(t, "llama")
	for _, method := range []string{"oft", "lora", "full"} {
		t.Run(method, func(t *testing.T) {
			out := t.TempDir()
			cfg := testConfig()
			if method == "full" {
				cfg.LearningRate = 3e-3
			}
			tr, st, err := f.runOnce(t, runSpec{method: method, cfg: cfg, out: out})
			if err != nil {
				t.Fatal(err)
			}
			first, last := firstLoss(st)
			t.Logf("%s: loss %.4f → %.4f over %d steps, best eval %.4f", method, first, last, st.GlobalStep, *st.BestEvalLoss)
			if !(last < 0.6*first) {
				t.Errorf("loss fell only from %.4f to %.4f", first, last)
			}
			if method != "full" { // only adapter tensors were trained
				fresh := f.modelFn().Params()
				for i, p := range tr.Model.Params() {
					if d := tensor.MaxAbsDiff(p.W.Data, fresh[i].W.Data); d != 0 || p.Grad != nil {
						t.Fatalf("base weight %s changed by %g (gradient buffer: %v)", p.Name, d, p.Grad != nil)
					}
				}
			}
			final, err := Evaluate(tr.Model, batches(f.eval, 4))
			if err != nil {
				t.Fatal(err)
			}
			// Reload what was saved into a fresh model: same eval loss.
			m := f.modelFn()
			var reloaded model.CausalLM = m
			if method == "full" {
				reloaded, err = model.Load(out)
				if err != nil {
					t.Fatal(err)
				}
			} else {
				pm := peft.Wrap(m)
				if _, err := pm.Load("default", out); err != nil {
					t.Fatal(err)
				}
				reloaded = pm
			}
			again, err := Evaluate(reloaded, batches(f.eval, 4))
			if err != nil {
				t.Fatal(err)
			}
			if again.Loss != final.Loss {
				t.Errorf("eval loss after reload %.9f, before %.9f", again.Loss, final.Loss)
			}
			for _, name := range []string{MetricsFile, StateFile} {
				if _, err := os.Stat(filepath.Join(out, name)); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A run stopped after a checkpoint and resumed in a new process (fresh
// model, adapter, loader) ends bit-identical to an uninterrupted one:
// dropout, shuffling across epochs, accumulation, warmup and cosine all
// continue where they were.
func TestResumeIsBitIdentical(t *testing.T) {
	f := newFixture(t, "llama")
	for _, method := range []string{"oft", "lora"} {
		t.Run(method, func(t *testing.T) {
			full := t.TempDir()
			if _, _, err := f.runOnce(t, runSpec{method: method, cfg: testConfig(), out: full}); err != nil {
				t.Fatal(err)
			}
			// The interrupted run: same settings, checkpoints every 7 steps,
			// stopped (max_steps would change the schedule, so we stop by
			// using the checkpoint alone) — resume from checkpoint-14.
			part := t.TempDir()
			cfg := testConfig()
			cfg.SaveSteps = 7
			if _, _, err := f.runOnce(t, runSpec{method: method, cfg: cfg, out: part}); err != nil {
				t.Fatal(err)
			}
			resumed := t.TempDir()
			ckpt := filepath.Join(part, "checkpoint-14")
			if _, _, err := f.runOnce(t, runSpec{method: method, cfg: cfg, out: resumed, resumeFrom: ckpt}); err != nil {
				t.Fatal(err)
			}
			want := readFile(t, filepath.Join(full, peft.WeightsFile))
			if got := readFile(t, filepath.Join(resumed, peft.WeightsFile)); string(got) != string(want) {
				t.Fatal("resumed adapter differs from the uninterrupted run's")
			}
			// And the checkpoint itself differs from the final adapter (so the
			// comparison above is not vacuous).
			if got := readFile(t, filepath.Join(ckpt, peft.WeightsFile)); string(got) == string(want) {
				t.Fatal("checkpoint-14 equals the final adapter")
			}
		})
	}
}

// TestGradientCheckpointingSameResult trains with and without gradient
// checkpointing, dropout on (so the recomputation must replay the masks),
// on every architecture, and requires byte-identical adapters; and checks
// that checkpointing keeps less alive after a forward.
func TestGradientCheckpointingSameResult(t *testing.T) {
	for _, arch := range []string{"llama", "qwen3", "gpt2"} {
		f := newFixture(t, arch)
		for _, method := range []string{"oft", "lora"} {
			for _, replicas := range []int{1, 2} {
				t.Run(fmt.Sprintf("%s/%s/%d replicas", arch, method, replicas), func(t *testing.T) {
					cfg := testConfig()
					cfg.MaxSteps = 6
					plain, ckpt := t.TempDir(), t.TempDir()
					if _, _, err := f.runOnce(t, runSpec{method: method, cfg: cfg, out: plain, replicas: replicas}); err != nil {
						t.Fatal(err)
					}
					cfg.GradientCheckpointing = true
					if _, _, err := f.runOnce(t, runSpec{method: method, cfg: cfg, out: ckpt, replicas: replicas}); err != nil {
						t.Fatal(err)
					}
					want := readFile(t, filepath.Join(plain, peft.WeightsFile))
					if got := readFile(t, filepath.Join(ckpt, peft.WeightsFile)); string(got) != string(want) {
						t.Fatal("the adapter trained with gradient checkpointing differs")
					}
				})
			}
		}
	}
}

func TestResumeRefusesDifferentSettings(t *testing.T) {
	f := newFixture(t, "llama")
	cfg := testConfig()
	cfg.SaveSteps = 10
	part := t.TempDir()
	if _, _, err := f.runOnce(t, runSpec{method: "lora", cfg: cfg, out: part}); err != nil {
		t.Fatal(err)
	}
	other := cfg
	other.LearningRate = 1e-3
	m := f.modelFn()
	pm := peft.Wrap(m)
	a, _ := pm.Add("default", lora.NewConfig(peft.Pattern("all-linear")), tensor.NewRNG(1))
	tr := &Trainer{Config: other, Model: pm, Target: AdapterTarget(a), Train: data.NewLoader(f.train, 4, true, 1, 0), OutputDir: t.TempDir()}
	err := tr.Resume(filepath.Join(part, "checkpoint-10"))
	if err == nil || !contains(err.Error(), "learning_rate") {
		t.Fatalf("resume with another learning rate: %v", err)
	}
}

func TestNonFiniteLossStops(t *testing.T) {
	f := newFixture(t, "llama")
	cfg := testConfig()
	cfg.LearningRate, cfg.MaxGradNorm, cfg.WarmupSteps, cfg.SaveSteps = 1e30, 0, 0, 1
	cfg.LRSchedulerType = Constant
	out := t.TempDir()
	_, st, err := f.runOnce(t, runSpec{method: "lora", cfg: cfg, out: out})
	var nf *NonFiniteError
	if !errors.As(err, &nf) {
		t.Fatalf("error %v, want a NonFiniteError", err)
	}
	t.Log(err)
	if nf.Step != st.GlobalStep+1 {
		t.Errorf("stopped at step %d, state at %d", nf.Step, st.GlobalStep)
	}
	if _, err := os.Stat(filepath.Join(out, peft.WeightsFile)); err == nil {
		t.Error("a final adapter was written after a non-finite loss")
	}
	// The first update (learning rate 1e30) makes the weights blow up; the
	// checkpoint written after it is the last one, and it is complete.
	if nf.Checkpoint == "" {
		t.Fatal("no last good checkpoint named")
	}
	if _, err := os.Stat(filepath.Join(nf.Checkpoint, OptimizerFile)); err != nil {
		t.Errorf("last good checkpoint %q: %v", nf.Checkpoint, err)
	}
}

func TestCheckpointLimitAndLatest(t *testing.T) {
	f := newFixture(t, "gpt2")
	cfg := testConfig()
	cfg.SaveSteps, cfg.SaveTotalLimit, cfg.MaxSteps = 4, 2, 14
	out := t.TempDir()
	if _, _, err := f.runOnce(t, runSpec{method: "oft", cfg: cfg, out: out}); err != nil {
		t.Fatal(err)
	}
	steps, err := Checkpoints(out)
	if err != nil || len(steps) != 2 || steps[0] != 8 || steps[1] != 12 {
		t.Fatalf("checkpoints %v (%v), want [8 12]", steps, err)
	}
	latest, _ := LatestCheckpoint(out)
	if filepath.Base(latest) != "checkpoint-12" {
		t.Errorf("latest = %s", latest)
	}
	if !IsOutputDir(out) || IsOutputDir(t.TempDir()) {
		t.Error("IsOutputDir wrong")
	}
}
