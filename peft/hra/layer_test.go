package hra

import (
	"math"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/gradcheck"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

// randomLayer builds an HRA layer on a random 24→10 linear layer (or
// Conv1D) with random (non-identity) vectors.
func randomLayer(t *testing.T, mutate func(*Config), conv1D bool) (*Layer, *nn.Linear) {
	t.Helper()
	rng := tensor.NewRNG(5)
	in, out := 24, 10
	shape := []int{out, in}
	if conv1D {
		shape = []int{in, out}
	}
	base, err := nn.NewLinear("layer", rng.Randn(0.5, shape...), rng.Randn(0.1, out), conv1D)
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig(peft.Names("layer"))
	cfg.InitWeights = false // kaiming vectors: a real product of reflections
	cfg.R = 6
	mutate(cfg)
	l, err := cfg.NewLayer(model.NewSlot(base), rng)
	if err != nil {
		t.Fatal(err)
	}
	return l.(*Layer), base
}

// TestGradients checks dL/dx and dL/d(hra_u) against finite differences
// with and without Gram–Schmidt, even and odd r, r > in_features, and
// GPT-2's Conv1D.
func TestGradients(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		conv1D bool
	}{
		{"r 6", func(c *Config) {}, false},
		{"odd r 5", func(c *Config) { c.R = 5 }, false},
		{"r 1", func(c *Config) { c.R = 1 }, false},
		{"r 30 > in 24", func(c *Config) { c.R = 30 }, false},
		{"apply_GS r 6", func(c *Config) { c.ApplyGS = true }, false},
		{"apply_GS odd r 7", func(c *Config) { c.ApplyGS = true; c.R = 7 }, false},
		{"Conv1D", func(c *Config) {}, true},
		{"Conv1D apply_GS", func(c *Config) { c.ApplyGS = true }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := randomLayer(t, tc.mutate, tc.conv1D)
			l.Param.SetTrainable(true)
			rng := tensor.NewRNG(9)
			x := rng.Randn(1, 2, 3, 24)
			g := rng.Randn(1, 2, 3, 10)
			loss := func() float64 { return gradcheck.WeightedSum(l.Forward(x).Data, g.Data) }
			loss()
			l.Param.ZeroGrad()
			dx := l.Backward(g)
			est := gradcheck.WithStep(gradcheck.Richardson, 1e-2)
			relX := gradcheck.MaxError(x.Data, dx.Data, nil, est, loss) / gradcheck.MaxAbs(dx.Data)
			relU := gradcheck.MaxError(l.Param.W.Data, l.Param.Grad.Data, nil, est, loss) / gradcheck.MaxAbs(l.Param.Grad.Data)
			t.Logf("max relative error: dx %.3g, d(hra_u) %.3g", relX, relU)
			if relX > 1e-3 || relU > 1e-3 || math.IsNaN(relX+relU) {
				t.Errorf("relative errors dx %.3g, dU %.3g exceed 1e-3", relX, relU)
			}
		})
	}
}

// TestMergeUnmergeRoundTrip: merging gives the adapter's function and
// unmerging restores the base weight, for both layouts, with and without
// Gram–Schmidt.
func TestMergeUnmergeRoundTrip(t *testing.T) {
	for _, conv1D := range []bool{false, true} {
		for _, gs := range []bool{false, true} {
			l, base := randomLayer(t, func(c *Config) { c.ApplyGS = gs }, conv1D)
			orig := base.Weight.W.Clone()
			x := tensor.NewRNG(3).Randn(1, 4, 24)
			y := l.Forward(x).Clone()
			if err := l.Merge(); err != nil {
				t.Fatal(err)
			}
			if !l.Merged() {
				t.Fatal("Merged() false after Merge")
			}
			if d := tensor.MaxAbsDiff(base.Forward(x).Data, y.Data); d > 1e-5 {
				t.Errorf("conv1D=%v gs=%v: merged forward differs by %g", conv1D, gs, d)
			}
			if _, err := l.ReplicaOn(base, nn.NewReplicas()); err == nil {
				t.Error("a merged layer made a replica")
			}
			if err := l.Unmerge(); err != nil {
				t.Fatal(err)
			}
			if d := tensor.MaxAbsDiff(base.Weight.W.Data, orig.Data); d > 1e-6 {
				t.Errorf("conv1D=%v gs=%v: unmerge left the weight %g away from the original", conv1D, gs, d)
			}
		}
	}
}

// TestForwardFoldsIntoWeightForLargeBatches: a batch with more rows than
// the layer has outputs folds H into the weight, one with fewer applies it
// to the input; both agree, for both layouts, a float32 and a bfloat16
// base weight.
func TestForwardFoldsIntoWeightForLargeBatches(t *testing.T) {
	for _, conv1D := range []bool{false, true} {
		for _, bf16 := range []bool{false, true} {
			l, base := randomLayer(t, func(c *Config) {}, conv1D)
			if bf16 {
				if err := base.StoreBF16(); err != nil {
					t.Fatal(err)
				}
			}
			rows := 3 * base.Out
			x := tensor.NewRNG(8).Randn(1, rows, base.In)
			whole := l.Forward(x).Clone() // rows > out: folded into the weight
			for r0 := 0; r0 < rows; r0 += base.Out - 1 {
				r1 := min(r0+base.Out-1, rows)
				part := &tensor.Tensor{Shape: []int{r1 - r0, base.In}, Data: x.Data[r0*base.In : r1*base.In]}
				got := l.Forward(part) // rows < out: the input reflected
				for i, v := range got.Data {
					if d := math.Abs(float64(v - whole.Data[r0*base.Out+i])); d > 1e-5 {
						t.Fatalf("conv1D=%v bf16=%v: row %d differs by %.3g between the paths", conv1D, bf16, r0+i/base.Out, d)
					}
				}
			}
		}
	}
}

// TestTrainableBase: with a trainable base weight the layer still computes
// base(x·Hᵀ) and the base's weight gradient sees x·Hᵀ.
func TestTrainableBase(t *testing.T) {
	l, base := randomLayer(t, func(c *Config) {}, false)
	x := tensor.NewRNG(3).Randn(1, 30, 24) // more rows than outputs
	frozen := l.Forward(x).Clone()
	base.Weight.SetTrainable(true)
	if d := tensor.MaxAbsDiff(l.Forward(x).Data, frozen.Data); d > 1e-5 {
		t.Errorf("trainable base: output differs by %g", d)
	}
}

// TestInit: PEFT's symmetric init gives H = I for even r; odd r, apply_GS
// and init_weights=false do not, and apply_GS draws independent vectors,
// so H is orthogonal.
func TestInit(t *testing.T) {
	x := tensor.NewRNG(3).Randn(1, 4, 24)
	for _, tc := range []struct {
		name     string
		mutate   func(*Config)
		identity bool
	}{
		{"even r", func(c *Config) { c.InitWeights = true; c.R = 8 }, true},
		{"odd r", func(c *Config) { c.InitWeights = true; c.R = 7 }, false},
		{"init_weights false", func(c *Config) { c.R = 8 }, false},
		{"apply_GS", func(c *Config) { c.InitWeights = true; c.R = 8; c.ApplyGS = true }, false},
	} {
		l, base := randomLayer(t, tc.mutate, false)
		want := base.Forward(x).Clone()
		d := tensor.MaxAbsDiff(l.Forward(x).Data, want.Data)
		if tc.identity != (d < 1e-5) {
			t.Errorf("%s: output differs from the base by %g; identity expected: %v", tc.name, d, tc.identity)
		}
		h := l.Factor()
		if e := h.OrthogonalityError(); e > 1e-5 {
			t.Errorf("%s: ‖HᵀH − I‖ = %g", tc.name, e)
		}
		if i, _ := h.DependentColumn(dependentTol); i >= 0 {
			t.Errorf("%s: column %d dependent", tc.name, i)
		}
		// kaiming_uniform(a=√5) bound 1/√fan_in, fan_in = the columns drawn.
		fan := float64(l.R)
		if tc.identity {
			fan /= 2
		}
		if m := gradcheck.MaxAbs(l.Param.W.Data); m > 1/math.Sqrt(fan) || m < 0.5/math.Sqrt(fan) {
			t.Errorf("%s: max |u| %g, bound %g", tc.name, m, 1/math.Sqrt(fan))
		}
	}
}

// TestBadInput: wrong shapes of hra_u, r ≤ 0, and apply_GS vectors
// Gram–Schmidt cannot orthonormalise are refused with messages naming the
// layer, the tensor or the field and the numbers.
func TestBadInput(t *testing.T) {
	base, _ := nn.NewLinear("model.layers.0.q_proj", tensor.New(10, 24), nil, false)
	slot := model.NewSlot(base)
	cfg := NewConfig(peft.Names("q_proj"))
	dup := tensor.New(24, 8) // PEFT's apply_GS default init: pairs of equal columns
	rng := tensor.NewRNG(1)
	half := rng.Randn(0.3, 24, 4)
	for k := range 24 {
		for i := range 8 {
			dup.Data[k*8+i] = half.Data[k*4+i/2]
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		u      *tensor.Tensor
		want   []string
	}{
		{"rows", func(*Config) {}, tensor.New(16, 8), []string{"model.layers.0.q_proj", "hra_u", "[16 8]", "24 input features"}},
		{"r", func(*Config) {}, tensor.New(24, 4), []string{"model.layers.0.q_proj", "hra_u", "[24 4]", "r is 8"}},
		{"rank 3", func(*Config) {}, tensor.New(24, 8, 1), []string{"model.layers.0.q_proj", "hra_u", "[24 8 1]"}},
		{"dependent GS", func(c *Config) { c.ApplyGS = true }, dup, []string{"model.layers.0.q_proj", "hra_u column 1", "apply_GS"}},
		{"GS r > in", func(c *Config) { c.ApplyGS = true; c.R = 30 }, rng.Randn(1, 24, 30), []string{"model.layers.0.q_proj", "r 30", "24 input features"}},
	} {
		c := *cfg
		tc.mutate(&c)
		_, err := c.LoadLayer(slot, map[string]*tensor.Tensor{"hra_u": tc.u})
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, w)
			}
		}
	}
	for _, r := range []int{0, -2} {
		c := *cfg
		c.R = r
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "r must be") {
			t.Errorf("r = %d: Validate gave %v", r, err)
		}
		if _, err := c.NewLayer(slot, rng); err == nil || !strings.Contains(err.Error(), "r must be") {
			t.Errorf("r = %d: NewLayer gave %v", r, err)
		}
	}
	c := *cfg
	c.ApplyGS, c.R = true, 30
	if _, err := c.NewLayer(slot, rng); err == nil || !strings.Contains(err.Error(), "r 30 exceeds") {
		t.Errorf("apply_GS with r > in: NewLayer gave %v", err)
	}
}

// TestReplicas: a replica reads the factor its origin builds at ShareStep,
// computes what the origin computes and keeps a gradient of its own; the
// factor is rebuilt without ShareStep; DropReplicas forgets them.
func TestReplicas(t *testing.T) {
	for _, gs := range []bool{false, true} {
		l, base := randomLayer(t, func(c *Config) { c.ApplyGS = gs }, false)
		l.Param.SetTrainable(true)
		reps := nn.NewReplicas()
		r, err := l.ReplicaOn(base.Replica(reps), reps)
		if err != nil {
			t.Fatal(err)
		}
		rl := r.(*Layer)
		if rl.Param.W != l.Param.W || rl.Param.Grad == l.Param.Grad {
			t.Fatal("the replica does not share hra_u with a gradient of its own")
		}
		rng := tensor.NewRNG(4)
		x, g := rng.Randn(1, 5, 24), rng.Randn(1, 5, 10)
		l.ShareStep(true)
		y := l.Forward(x).Clone()
		dx := l.Backward(g).Clone()
		ry := rl.Forward(x).Clone()
		rdx := rl.Backward(g).Clone()
		if rl.cur != &l.h {
			t.Error("the replica did not read the origin's factor")
		}
		l.ShareStep(false)
		if d := tensor.MaxAbsDiff(y.Data, ry.Data) + tensor.MaxAbsDiff(dx.Data, rdx.Data) + tensor.MaxAbsDiff(l.Param.Grad.Data, rl.Param.Grad.Data); d != 0 {
			t.Errorf("gs=%v: the replica differs from the layer by %g", gs, d)
		}
		// After an update, without ShareStep, each builds the new factor.
		l.Param.W.Data[0] += 0.5
		y2 := l.Forward(x).Clone()
		if d := tensor.MaxAbsDiff(rl.Forward(x).Data, y2.Data); d != 0 || tensor.MaxAbsDiff(y2.Data, y.Data) == 0 {
			t.Errorf("gs=%v: after an update the replica differs by %g (or nothing changed)", gs, d)
		}
		if l.Replicas() != 1 {
			t.Errorf("Replicas() = %d, want 1", l.Replicas())
		}
		l.DropReplicas()
		if l.Replicas() != 0 {
			t.Error("DropReplicas left replicas")
		}
	}
}

// TestDiagnostics: r, apply_GS, an orthogonality error at rounding level
// and det H = (−1)^r.
func TestDiagnostics(t *testing.T) {
	for _, tc := range []struct {
		r    int
		gs   bool
		sign int
	}{{6, false, 1}, {5, false, -1}, {6, true, 1}, {7, true, -1}} {
		l, _ := randomLayer(t, func(c *Config) { c.R, c.ApplyGS = tc.r, tc.gs }, false)
		got := map[string]any{}
		for _, d := range l.Diagnostics() {
			got[d.Key] = d.Value
		}
		if got["r"] != tc.r || got["apply_GS"] != tc.gs || got["det_sign"] != tc.sign || got["orthogonality_error"].(float64) > 1e-12 {
			t.Errorf("r %d gs %v: diagnostics %v", tc.r, tc.gs, got)
		}
		if !strings.HasPrefix(l.Describe(), "r ") {
			t.Errorf("Describe() = %q", l.Describe())
		}
	}
}
