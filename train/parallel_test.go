package train

import (
	"context"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/lora"
	"github.com/orthotune/orthotune/peft/oft"
	"github.com/orthotune/orthotune/tensor"
)

// parallelRun is a fresh model of the fixture with what a step needs.
type parallelRun struct {
	model  model.CausalLM
	target Target
	opt    *AdamW
}

// newParallelRun loads the fixture's model and adapts it by method (oft,
// lora or full) with the given adapter dropout.
func (f fixture) newParallelRun(t *testing.T, method string, dropout float64) parallelRun {
	t.Helper()
	m := f.modelFn()
	var run model.CausalLM = m
	var target Target
	switch method {
	case "full":
		target = FullTarget(m, nil)
	default:
		var cfg peft.Config
		if strings.HasPrefix(method, "oft") {
			c := oft.NewConfig(peft.Pattern("all-linear"))
			c.BlockSize, c.ModuleDropout = 8, dropout
			c.COFT = method == "oft-coft"
			c.Eps = 1e-3
			c.BlockShare = method == "oft-share"
			cfg = c
		} else {
			c := lora.NewConfig(peft.Pattern("all-linear"))
			c.R, c.LoraAlpha, c.LoraDropout = 4, 8, dropout
			c.InitLoraWeights = lora.InitMode{IsBool: true, Bool: false} // B random too, so that A has gradients
			cfg = c
		}
		pm := peft.Wrap(m)
		a, err := pm.Add("default", cfg, tensor.NewRNG(7))
		if err != nil {
			t.Fatal(err)
		}
		run, target = pm, AdapterTarget(a)
	}
	target.SetTraining(true)
	opt, err := NewAdamW(target.Params(), 0.9, 0.999, 1e-8, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	return parallelRun{model: run, target: target, opt: opt}
}

// stepsOf are the steps the data-parallel tests run: gradient accumulation
// over two batches, rows that do not split evenly, and a one-row batch.
func stepsOf(f fixture) [][]data.Batch {
	b := batches(f.train, 4)
	odd := batches(f.train[:3], 3)
	one := batches(f.train[3:4], 1)
	return [][]data.Batch{{b[0], b[1]}, odd, {one[0], b[2]}, {b[3]}}
}

// TestParallelStepMatchesSerial runs the same steps on one model with Step
// and on another with replicas: losses, gradient norms and the trained
// weights agree up to the order of floating-point sums, for every
// architecture and method, and two replicated runs agree bit for bit.
func TestParallelStepMatchesSerial(t *testing.T) {
	for _, arch := range []string{"llama", "qwen3", "gpt2"} {
		f := newFixture(t, arch)
		for _, method := range []string{"oft", "oft-coft", "oft-share", "lora", "full"} {
			t.Run(arch+"/"+method, func(t *testing.T) {
				serial := f.newParallelRun(t, method, 0)
				var replicated [2]parallelRun
				var pars [2]*Parallel
				for i := range replicated {
					replicated[i] = f.newParallelRun(t, method, 0)
					p, err := NewParallel(replicated[i].model, 3)
					if err != nil {
						t.Fatal(err)
					}
					if p.Replicas() != 3 {
						t.Fatalf("%d replicas, want 3", p.Replicas())
					}
					pars[i] = p
				}
				for s, bs := range stepsOf(f) {
					want, err := Step(serial.model, serial.opt, bs, 1e-2, 1)
					if err != nil {
						t.Fatal(err)
					}
					for i, p := range pars {
						got, err := p.Step(replicated[i].opt, bs, 1e-2, 1)
						if err != nil {
							t.Fatal(err)
						}
						if got.Targets != want.Targets || got.Tokens != want.Tokens {
							t.Fatalf("step %d: %d targets, %d tokens; want %d, %d", s, got.Targets, got.Tokens, want.Targets, want.Tokens)
						}
						if relDiff(got.Loss, want.Loss) > 1e-5 || relDiff(got.GradNorm, want.GradNorm) > 1e-4 {
							t.Fatalf("step %d: loss %.9g, grad norm %.9g; serial %.9g, %.9g", s, got.Loss, got.GradNorm, want.Loss, want.GradNorm)
						}
						// The gradients the optimizer used (clipped): within
						// rounding of the largest.
						for k, np := range serial.target.Params() {
							g, gs := replicated[i].target.Params()[k].Param.Grad.Data, np.Param.Grad.Data
							var top float64
							for _, v := range gs {
								top = max(top, math.Abs(float64(v)))
							}
							for j := range gs {
								if d := math.Abs(float64(g[j] - gs[j])); d > 1e-4*top+1e-9 {
									t.Fatalf("step %d: gradient of %s[%d] %g, serial %g", s, np.Name, j, g[j], gs[j])
								}
							}
						}
					}
				}
				if method == "full" {
					// AdamW turns the rounding noise of gradients that are
					// zero in exact arithmetic (GPT-2's key bias, which
					// softmax ignores) into whole steps of ±lr, so the
					// weights are compared for the adapters only.
					return
				}
				wantParams, a, b := serial.target.Params(), replicated[0].target.Params(), replicated[1].target.Params()
				for k, np := range wantParams {
					w, ga, gb := np.Param.W.Data, a[k].Param.W.Data, b[k].Param.W.Data
					for j := range w {
						if ga[j] != gb[j] {
							t.Fatalf("%s[%d]: two replicated runs differ: %g, %g", np.Name, j, ga[j], gb[j])
						}
						if d := math.Abs(float64(ga[j] - w[j])); d > 1e-4*(1+math.Abs(float64(w[j]))) {
							t.Fatalf("%s[%d] = %g after replicated steps, %g after serial ones", np.Name, j, ga[j], w[j])
						}
					}
				}
			})
		}
	}
}

func relDiff(a, b float64) float64 { return math.Abs(a-b) / math.Max(math.Abs(b), 1e-12) }

// TestParallelAdapterDropout: with adapter dropout, replicas draw their
// own masks from generators the adapter layers seed each step, so two
// replicated runs agree bit for bit.
func TestParallelAdapterDropout(t *testing.T) {
	f := newFixture(t, "llama")
	for _, method := range []string{"oft", "lora"} {
		var runs [2]parallelRun
		for i := range runs {
			runs[i] = f.newParallelRun(t, method, 0.1)
			p, err := NewParallel(runs[i].model, 2)
			if err != nil {
				t.Fatalf("%s with dropout: %v", method, err)
			}
			for _, bs := range stepsOf(f) {
				res, err := p.Step(runs[i].opt, bs, 1e-2, 1)
				if err != nil || math.IsNaN(res.Loss) {
					t.Fatalf("%s: step: loss %g, %v", method, res.Loss, err)
				}
			}
			p.Close()
		}
		for k, np := range runs[0].target.Params() {
			if a, b := np.Param.W.Data, runs[1].target.Params()[k].Param.W.Data; string(f32bytes(a)) != string(f32bytes(b)) {
				t.Fatalf("%s: %s differs between two replicated runs with dropout", method, np.Name)
			}
		}
	}
}

func f32bytes(x []float32) []byte {
	b := make([]byte, 0, 4*len(x))
	for _, v := range x {
		u := math.Float32bits(v)
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return b
}

// TestTrainerReplicas: a Trainer trains with adapter dropout on replicas
// or on the model alone, and puts GOMAXPROCS back either way.
func TestTrainerReplicas(t *testing.T) {
	f := newFixture(t, "llama")
	cfg := testConfig()
	cfg.MaxSteps = 2
	procs := runtime.GOMAXPROCS(0)
	for _, replicas := range []int{2, 1, 0} {
		r := f.newParallelRun(t, "oft", 0.1)
		tr := &Trainer{Config: cfg, Model: r.model, Target: r.target, Train: data.NewLoader(f.train, 4, true, 1, 0),
			OutputDir: t.TempDir(), Replicas: replicas}
		if _, err := tr.Run(context.Background()); err != nil {
			t.Errorf("Replicas %d with dropout: %v", replicas, err)
		}
		if got := runtime.GOMAXPROCS(0); got != procs {
			t.Errorf("Replicas %d: GOMAXPROCS %d after Run, was %d", replicas, got, procs)
		}
	}
}

// TestParallelGOMAXPROCS: replicas raise GOMAXPROCS to twice their number
// while open, and Close puts it back.
func TestParallelGOMAXPROCS(t *testing.T) {
	f := newFixture(t, "llama")
	r := f.newParallelRun(t, "lora", 0)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	p, err := NewParallel(r.model, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != 6 {
		t.Errorf("GOMAXPROCS %d with 3 replicas open, want 6", got)
	}
	p.Close()
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("GOMAXPROCS %d after Close, want 1 as before", got)
	}
}
