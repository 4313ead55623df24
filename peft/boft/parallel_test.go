package boft_test

import (
	"math"
	"testing"

	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/boft"
	"github.com/orthotune/orthotune/tensor"
	"github.com/orthotune/orthotune/train"
)

type parallelRun struct {
	model  model.CausalLM
	target train.Target
	opt    *train.AdamW
}

func newRun(t *testing.T, dropout float64) parallelRun {
	t.Helper()
	cfg := boft.NewConfig(peft.Pattern("all-linear"))
	cfg.BlockSize, cfg.Factors, cfg.InitWeights, cfg.Dropout = 8, 2, false, dropout
	pm := peft.Wrap(llamaModel(t))
	a, err := pm.Add("default", cfg, tensor.NewRNG(7))
	if err != nil {
		t.Fatal(err)
	}
	target := train.AdapterTarget(a)
	target.SetTraining(true)
	opt, err := train.NewAdamW(target.Params(), 0.9, 0.999, 1e-8, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	return parallelRun{pm, target, opt}
}

func llamaModel(t *testing.T) model.CausalLM {
	t.Helper()
	m, err := model.Load(orthoDir() + "/../peft-ref/model/llama")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func steps() [][]data.Batch {
	rng := tensor.NewRNG(5)
	var ex []data.Example
	for range 12 {
		ids := make([]int, 12)
		for i := range ids {
			ids[i] = rng.IntN(100)
		}
		ex = append(ex, data.Example{InputIDs: ids, Labels: append([]int(nil), ids...)})
	}
	l := data.NewLoader(ex, 3, false, 0, 0)
	var out [][]data.Batch
	for range l.StepsPerEpoch() {
		out = append(out, []data.Batch{l.Next()})
	}
	return out
}

// TestParallelStepMatchesSerial: data-parallel steps on replicas (which
// read the blocks each layer computes once per step) give the serial
// steps' gradients and weights up to rounding; with boft_dropout two
// replicated runs agree bit for bit.
func TestParallelStepMatchesSerial(t *testing.T) {
	serial, par := newRun(t, 0), newRun(t, 0)
	p, err := train.NewParallel(par.model, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for s, bs := range steps() {
		want, err := train.Step(serial.model, serial.opt, bs, 1e-2, 1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Step(par.opt, bs, 1e-2, 1)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got.Loss-want.Loss) > 1e-5*math.Abs(want.Loss) || math.Abs(got.GradNorm-want.GradNorm) > 1e-4*want.GradNorm {
			t.Fatalf("step %d: loss %.9g, grad norm %.9g; serial %.9g, %.9g", s, got.Loss, got.GradNorm, want.Loss, want.GradNorm)
		}
	}
	for k, np := range serial.target.Params() {
		w, g := np.Param.W.Data, par.target.Params()[k].Param.W.Data
		for j := range w {
			if d := math.Abs(float64(g[j] - w[j])); d > 1e-4*(1+math.Abs(float64(w[j]))) {
				t.Fatalf("%s[%d] = %g after replicated steps, %g after serial ones", np.Name, j, g[j], w[j])
			}
		}
	}

	var runs [2]parallelRun
	for i := range runs {
		runs[i] = newRun(t, 0.25)
		p, err := train.NewParallel(runs[i].model, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, bs := range steps() {
			if res, err := p.Step(runs[i].opt, bs, 1e-2, 1); err != nil || math.IsNaN(res.Loss) {
				t.Fatalf("step with dropout: loss %g, %v", res.Loss, err)
			}
		}
		p.Close()
	}
	for k, np := range runs[0].target.Params() {
		a, b := np.Param.W.Data, runs[1].target.Params()[k].Param.W.Data
		for j := range a {
			if a[j] != b[j] {
				t.Fatalf("%s[%d] differs between two replicated runs with dropout: %g, %g", np.Name, j, a[j], b[j])
			}
		}
	}
}
