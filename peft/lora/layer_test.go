package lora

import (
	"math"
	"testing"

	"github.com/orthotune/orthotune/internal/gradcheck"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

func randomLayer(t *testing.T, mutate func(*Config), conv1D bool) (*Layer, *nn.Linear) {
	t.Helper()
	rng := tensor.NewRNG(4)
	in, out := 12, 9
	shape := []int{out, in}
	if conv1D {
		shape = []int{in, out}
	}
	base, err := nn.NewLinear("blocks.0.proj", rng.Randn(0.5, shape...), rng.Randn(0.1, out), conv1D)
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig(peft.Names("proj"))
	cfg.R, cfg.LoraAlpha = 4, 8
	cfg.InitLoraWeights = InitMode{IsBool: true, Bool: false} // random A and B
	mutate(cfg)
	l, err := cfg.NewLayer(model.NewSlot(base), rng)
	if err != nil {
		t.Fatal(err)
	}
	return l.(*Layer), base
}

func TestGradients(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		conv1D bool
	}{
		{"linear", func(*Config) {}, false},
		{"rsLoRA", func(c *Config) { c.UseRSLoRA = true }, false},
		{"Conv1D", func(*Config) {}, true},
		{"rank pattern", func(c *Config) {
			c.RankPattern = OrderedFloat{Entries: []FloatEntry{{"proj", 2}}}
			c.AlphaPattern = OrderedFloat{Entries: []FloatEntry{{`blocks\.0\.proj`, 3}}}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := randomLayer(t, tc.mutate, tc.conv1D)
			for _, p := range l.Tensors() {
				p.Param.SetTrainable(true)
			}
			rng := tensor.NewRNG(8)
			x, g := rng.Randn(1, 2, 3, 12), rng.Randn(1, 2, 3, 9)
			loss := func() float64 { return gradcheck.WeightedSum(l.Forward(x).Data, g.Data) }
			loss()
			dx := l.Backward(g)
			est := gradcheck.WithStep(gradcheck.Central, 1e-2) // the map is bilinear: central differences are exact up to rounding
			for _, c := range []struct {
				name        string
				x, analytic []float32
			}{{"dx", x.Data, dx.Data}, {"dA", l.A.W.Data, l.A.Grad.Data}, {"dB", l.B.W.Data, l.B.Grad.Data}} {
				rel := gradcheck.MaxError(c.x, c.analytic, nil, est, loss) / gradcheck.MaxAbs(c.analytic)
				t.Logf("%s: max relative error %.3g", c.name, rel)
				if rel > 1e-3 || math.IsNaN(rel) {
					t.Errorf("%s: relative error %.3g", c.name, rel)
				}
			}
		})
	}
}

func TestRankAlphaPatterns(t *testing.T) {
	c := NewConfig(peft.Names("q_proj"))
	c.R, c.LoraAlpha = 8, 16
	c.RankPattern = OrderedFloat{Entries: []FloatEntry{{`layers\.1\.self_attn\.q_proj`, 4}, {"q_proj", 2}}}
	c.AlphaPattern = OrderedFloat{Entries: []FloatEntry{{"v_proj", 32}}}
	for _, tc := range []struct {
		module string
		r      int
		alpha  float64
	}{
		{"model.layers.1.self_attn.q_proj", 4, 16},
		{"model.layers.0.self_attn.q_proj", 2, 16},
		{"model.layers.0.self_attn.v_proj", 8, 32},
		{"model.layers.0.self_attn.xq_proj", 8, 16}, // "q_proj" must match a whole dotted component
	} {
		r, a := c.RankAlpha(tc.module)
		if r != tc.r || a != tc.alpha {
			t.Errorf("%s: rank %d alpha %v, want %d %v", tc.module, r, a, tc.r, tc.alpha)
		}
	}
	if s := c.Scaling(4, 16); s != 4 {
		t.Errorf("scaling 16/4 = %v", s)
	}
	c.UseRSLoRA = true
	if s := c.Scaling(4, 16); s != 8 {
		t.Errorf("rsLoRA scaling 16/√4 = %v", s)
	}
}

// TestInitModes: the default starts at the base model (B = 0) with
// A ~ U(±1/√in); "gaussian" has A ~ N(0, (1/r)²); false moves B off zero.
func TestInitModes(t *testing.T) {
	stats := func(v []float32) (maxAbs, std float64) {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
			maxAbs = math.Max(maxAbs, math.Abs(float64(x)))
		}
		return maxAbs, math.Sqrt(s / float64(len(v)))
	}
	rng := tensor.NewRNG(1)
	base, _ := nn.NewLinear("proj", rng.Randn(1, 64, 400), nil, false)
	for _, tc := range []struct {
		init       InitMode
		aMax, aStd float64 // bounds: max |A| ≤ aMax, |std − aStd| ≤ 10%
		bZero      bool
	}{
		{InitMode{IsBool: true, Bool: true}, 1 / math.Sqrt(400), 1 / math.Sqrt(400) / math.Sqrt(3), true},
		{InitMode{Name: "gaussian"}, 1, 1.0 / 8, true},
		{InitMode{IsBool: true, Bool: false}, 1 / math.Sqrt(400), 1 / math.Sqrt(400) / math.Sqrt(3), false},
	} {
		c := NewConfig(peft.Names("proj"))
		c.InitLoraWeights = tc.init
		l, err := c.NewLayer(model.NewSlot(base), rng)
		if err != nil {
			t.Fatal(err)
		}
		ll := l.(*Layer)
		aMax, aStd := stats(ll.A.W.Data)
		bMax, _ := stats(ll.B.W.Data)
		if aMax > tc.aMax || math.Abs(aStd-tc.aStd) > 0.1*tc.aStd || (bMax == 0) != tc.bZero {
			t.Errorf("init %+v: max|A| %.4g (≤ %.4g), std(A) %.4g (≈ %.4g), max|B| %.3g (zero: %v)", tc.init, aMax, tc.aMax, aStd, tc.aStd, bMax, tc.bZero)
		}
	}
	c := NewConfig(peft.Names("proj"))
	c.InitLoraWeights = InitMode{Name: "pissa"}
	if _, err := c.NewLayer(model.NewSlot(base), rng); err == nil {
		t.Error("pissa initialisation accepted for a new adapter")
	}
}

// TestDropout: lora_dropout zeroes inputs of the low-rank path in training
// (scaling survivors by 1/(1−p)) and is off in evaluation; the gradient
// stays exact for the drawn mask.
func TestDropout(t *testing.T) {
	l, _ := randomLayer(t, func(c *Config) { c.LoraDropout = 0.5 }, false)
	x := tensor.NewRNG(2).Randn(1, 6, 12)
	eval := l.Forward(x).Clone()
	l.SetTraining(true)
	train := l.Forward(x)
	if tensor.MaxAbsDiff(train.Data, eval.Data) == 0 {
		t.Fatal("dropout had no effect in training")
	}
	zeros := 0
	for i, m := range l.mask {
		if m == 0 {
			zeros++
		} else if m != 2 || l.xd.Data[i] != 2*x.Data[i] {
			t.Fatalf("kept element %d scaled by %v, want 2", i, m)
		}
	}
	if zeros == 0 || zeros == len(l.mask) {
		t.Fatalf("%d of %d inputs dropped with p = 0.5", zeros, len(l.mask))
	}
	l.SetTraining(false)
	if d := tensor.MaxAbsDiff(l.Forward(x).Data, eval.Data); d != 0 {
		t.Fatalf("evaluation output changed by %g", d)
	}
}

// TestReplicaDropout: a replica keeps the layer's dropout and draws its
// mask from a generator the layer seeds at each ShareStep: the same seed
// gives the same mask, and the replica's differs from the layer's.
func TestReplicaDropout(t *testing.T) {
	masks := func() (orig, rep []float32) {
		l, base := randomLayer(t, func(c *Config) { c.LoraDropout = 0.5 }, false)
		l.SetTraining(true)
		r, err := l.ReplicaOn(base.Replica(nn.NewReplicas()), nn.NewReplicas())
		if err != nil {
			t.Fatal(err)
		}
		rl := r.(*Layer)
		if rl.Dropout != l.Dropout || !rl.Training() || rl.RNG() == l.RNG() {
			t.Fatalf("replica: dropout %g, training %v, own generator %v", rl.Dropout, rl.Training(), rl.RNG() != l.RNG())
		}
		x := tensor.NewRNG(2).Randn(1, 6, 12)
		l.ShareStep(true)
		l.Forward(x)
		rl.Forward(x)
		if l.Replicas() != 1 {
			t.Fatalf("%d replicas kept, want 1", l.Replicas())
		}
		l.DropReplicas()
		return append([]float32(nil), l.mask...), append([]float32(nil), rl.mask...)
	}
	o1, r1 := masks()
	o2, r2 := masks()
	if tensor.MaxAbsDiff(o1, o2) != 0 || tensor.MaxAbsDiff(r1, r2) != 0 {
		t.Error("the same seeds gave different masks")
	}
	if tensor.MaxAbsDiff(o1, r1) == 0 {
		t.Error("the replica drew the layer's mask")
	}
}
