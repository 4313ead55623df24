package oft

import (
	"math"
	"testing"

	"github.com/orthotune/orthotune/internal/gradcheck"
	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/orth"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

// randomLayer builds an OFT layer on a random 24→10 linear layer (or
// Conv1D) with non-zero Q.
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
	cfg.BlockSize = 8
	cfg.InitWeights = false // N(0, 0.1) entries: a real rotation
	mutate(cfg)
	l, err := cfg.NewLayer(model.NewSlot(base), rng)
	if err != nil {
		t.Fatal(err)
	}
	return l.(*Layer), base
}

// TestGradients checks dL/dx and dL/d(oft_R.weight) against finite
// differences for every parametrisation and layout.
func TestGradients(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		conv1D bool
	}{
		{"exact Cayley", func(c *Config) { c.UseCayleyNeumann = false }, false},
		{"Neumann 5 terms", func(c *Config) {}, false},
		{"Neumann 2 terms", func(c *Config) { c.NumCayleyNeumannTerms = 2 }, false},
		{"Neumann legacy series", func(c *Config) { c.Series = orth.NeumannLegacy }, false},
		{"block share", func(c *Config) { c.BlockShare = true }, false},
		{"COFT inside the ball", func(c *Config) { c.COFT = true; c.Eps = 10 }, false},
		{"COFT at the projected point", func(c *Config) { c.COFT = true; c.Eps = 0.05 }, false},
		{"Conv1D", func(c *Config) {}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := randomLayer(t, tc.mutate, tc.conv1D)
			l.Param.SetTrainable(true)
			rng := tensor.NewRNG(9)
			x := rng.Randn(1, 2, 3, 24)
			g := rng.Randn(1, 2, 3, 10)
			// COFT projects Q in place before each forward, without gradient:
			// PEFT's gradient is the rotation's, taken at the projected point.
			// Project once, then probe the map there with projection off (a
			// perturbation would otherwise be projected back onto the ball).
			l.Forward(x)
			l.COFT = false
			loss := func() float64 { return gradcheck.WeightedSum(l.Forward(x).Data, g.Data) }
			loss()
			l.Param.ZeroGrad()
			dx := l.Backward(g)
			est := gradcheck.WithStep(gradcheck.Richardson, 1e-2)
			relX := gradcheck.MaxError(x.Data, dx.Data, nil, est, loss) / gradcheck.MaxAbs(dx.Data)
			relQ := gradcheck.MaxError(l.Param.W.Data, l.Param.Grad.Data, nil, est, loss) / gradcheck.MaxAbs(l.Param.Grad.Data)
			t.Logf("max relative error: dx %.3g, d(oft_R.weight) %.3g", relX, relQ)
			if relX > 1e-3 || relQ > 1e-3 || math.IsNaN(relX+relQ) {
				t.Errorf("relative errors dx %.3g, dQ %.3g exceed 1e-3", relX, relQ)
			}
		})
	}
}

// TestBlockDropout: in training each block is replaced by the identity with
// probability module_dropout, exactly as if its Q were zero; dropped blocks
// get no gradient; evaluation applies every block.
func TestBlockDropout(t *testing.T) {
	l, base := randomLayer(t, func(c *Config) { c.BlockSize = 4; c.ModuleDropout = 0.5 }, false)
	l.Param.SetTrainable(true)
	x := tensor.NewRNG(1).Randn(1, 5, 24)
	evalY := l.Forward(x).Clone()
	l.SetTraining(true)
	sawDropped, sawKept := false, false
	for step := 0; step < 8; step++ {
		y := l.Forward(x).Clone()
		dropped := append([]bool(nil), l.dropped...)
		l.Param.ZeroGrad()
		l.Backward(tensor.NewRNG(2).Randn(1, 5, 10))
		// The same output from an eval-mode layer whose dropped rows of Q are zero.
		ref := &Layer{LayerCore: peft.NewLayerCore(base, 0), Param: nn.NewParam("ref", l.Param.W.Clone()), BlockSize: 4, Blocks: 6, Cayley: l.Cayley}
		cols := 6
		for i, d := range dropped {
			if d {
				sawDropped = true
				clear(ref.Param.W.Data[i*cols : (i+1)*cols])
				for _, v := range l.Param.Grad.Data[i*cols : (i+1)*cols] {
					if v != 0 {
						t.Fatalf("step %d: dropped block %d has gradient", step, i)
					}
				}
			} else {
				sawKept = true
				if gradcheck.MaxAbs(l.Param.Grad.Data[i*cols:(i+1)*cols]) == 0 {
					t.Fatalf("step %d: kept block %d has no gradient", step, i)
				}
			}
		}
		if d := tensor.MaxAbsDiff(ref.Forward(x).Data, y.Data); d > 1e-6 {
			t.Fatalf("step %d: dropout output differs from identity-block reference by %g", step, d)
		}
	}
	if !sawDropped || !sawKept {
		t.Fatalf("with p = 0.5 over 48 block draws: dropped %v, kept %v", sawDropped, sawKept)
	}
	l.SetTraining(false)
	if d := tensor.MaxAbsDiff(l.Forward(x).Data, evalY.Data); d != 0 {
		t.Fatalf("evaluation output changed after training-mode steps by %g", d)
	}
}

func TestAdjust(t *testing.T) {
	for _, tc := range []struct{ in, p, want int }{
		{64, 28, 32}, {64, 24, 16}, {64, 100, 64}, {48, 5, 4}, {48, 7, 6}, {64, 16, 16}, {10, 3, 2},
	} {
		if got := adjust(tc.in, tc.p); got != tc.want {
			t.Errorf("adjust(%d, %d) = %d, want %d", tc.in, tc.p, got, tc.want)
		}
	}
}

// TestMergeUnmergeRoundTrip: unmerge restores the base weight (exact
// inverse, also for the non-orthogonal Neumann series).
func TestMergeUnmergeRoundTrip(t *testing.T) {
	for _, neumann := range []bool{false, true} {
		l, base := randomLayer(t, func(c *Config) { c.UseCayleyNeumann = neumann }, false)
		orig := base.Weight.W.Clone()
		x := tensor.NewRNG(3).Randn(1, 4, 24)
		y := l.Forward(x).Clone()
		if err := l.Merge(); err != nil {
			t.Fatal(err)
		}
		if d := tensor.MaxAbsDiff(base.Forward(x).Data, y.Data); d > 1e-5 {
			t.Errorf("neumann=%v: merged forward differs by %g", neumann, d)
		}
		if err := l.Unmerge(); err != nil {
			t.Fatal(err)
		}
		if d := tensor.MaxAbsDiff(base.Weight.W.Data, orig.Data); d > 1e-6 {
			t.Errorf("neumann=%v: unmerge left the weight %g away from the original", neumann, d)
		}
	}
}

// TestForwardFoldsIntoWeightForLargeBatches checks that the two forward
// paths agree: a batch with more rows than the layer has outputs folds the
// rotation into the weight, one with fewer rotates the input. Both layouts,
// separate and shared blocks.
func TestForwardFoldsIntoWeightForLargeBatches(t *testing.T) {
	for _, conv1D := range []bool{false, true} {
		for _, share := range []bool{false, true} {
			l, base := randomLayer(t, func(c *Config) { c.BlockSize, c.BlockShare = 4, share }, conv1D)
			rows := 3 * base.Out
			x := tensor.NewRNG(8).Randn(1, rows, base.In)
			whole := l.Forward(x).Clone() // rows > out: folded into the weight
			for r0 := 0; r0 < rows; r0 += base.Out - 1 {
				r1 := min(r0+base.Out-1, rows)
				part := &tensor.Tensor{Shape: []int{r1 - r0, base.In}, Data: x.Data[r0*base.In : r1*base.In]}
				got := l.Forward(part) // rows < out: the input rotated
				for i, v := range got.Data {
					if d := math.Abs(float64(v - whole.Data[r0*base.Out+i])); d > 1e-5 {
						t.Fatalf("conv1D=%v shared=%v: row %d differs by %.3g between the paths", conv1D, share, r0+i/base.Out, d)
					}
				}
			}
		}
	}
}

// TestFoldedForwardWithBF16Base checks the folded forward (rows > outputs)
// over a base weight held in bfloat16 against the same weight in float32.
func TestFoldedForwardWithBF16Base(t *testing.T) {
	l32, b32 := randomLayer(t, func(c *Config) { c.BlockSize = 4 }, false)
	l16, b16 := randomLayer(t, func(c *Config) { c.BlockSize = 4 }, false)
	for _, b := range []*nn.Linear{b32, b16} {
		for i, v := range b.Weight.W.Data {
			b.Weight.W.Data[i] = tensor.RoundBF16(v)
		}
	}
	if err := b16.StoreBF16(); err != nil {
		t.Fatal(err)
	}
	x := tensor.NewRNG(9).Randn(1, 3*b32.Out, b32.In)
	want, got := l32.Forward(x).Clone(), l16.Forward(x)
	for i := range want.Data {
		if got.Data[i] != want.Data[i] {
			t.Fatalf("output %d: %g with a bfloat16 base, %g with float32", i, got.Data[i], want.Data[i])
		}
	}
}

// TestReplicaDropout: a replica keeps the layer's block dropout, draws its
// masks from a generator the layer seeds at each ShareStep (so the same
// seeds give the same masks, and the replica's differ from the layer's),
// and is forgotten by DropReplicas.
func TestReplicaDropout(t *testing.T) {
	masks := func() (orig, rep [][]bool) {
		l, base := randomLayer(t, func(c *Config) { c.BlockSize = 4; c.ModuleDropout = 0.5 }, false)
		l.SetTraining(true)
		r, err := l.ReplicaOn(base.Replica(nn.NewReplicas()), nn.NewReplicas())
		if err != nil {
			t.Fatal(err)
		}
		rl := r.(*Layer)
		if rl.Dropout != l.Dropout || !rl.Training() || rl.RNG() == l.RNG() {
			t.Fatalf("replica: dropout %g, training %v, own generator %v", rl.Dropout, rl.Training(), rl.RNG() != l.RNG())
		}
		x := tensor.NewRNG(1).Randn(1, 5, 24)
		for range 6 {
			l.ShareStep(true)
			l.Forward(x)
			rl.Forward(x)
			l.ShareStep(false)
			orig = append(orig, append([]bool(nil), l.dropped...))
			rep = append(rep, append([]bool(nil), rl.dropped...))
		}
		l.DropReplicas()
		if l.Replicas() != 0 {
			t.Error("DropReplicas left replicas")
		}
		return orig, rep
	}
	o1, r1 := masks()
	o2, r2 := masks()
	same := func(a, b [][]bool) bool {
		for i := range a {
			for j := range a[i] {
				if a[i][j] != b[i][j] {
					return false
				}
			}
		}
		return true
	}
	if !same(o1, o2) || !same(r1, r2) {
		t.Error("the same seeds gave different masks")
	}
	if same(o1, r1) {
		t.Error("the replica drew the layer's masks over 36 blocks")
	}
}

// TestSharedStepGradient: in a shared step the layer and its replica sum
// their gradients with respect to the rotations and ShareStep(false) takes
// the total through the Cayley backward once, into the layer's parameter
// gradient: the same gradient, within rounding, as each taking its own
// through it, over two backward passes on the layer (accumulation) and
// one on the replica, for every parametrisation; the inputs' gradients
// are the same bit for bit, and the replica's parameter gradient stays 0.
func TestSharedStepGradient(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"neumann", func(c *Config) {}},
		{"exact", func(c *Config) { c.UseCayleyNeumann = false }},
		{"block share", func(c *Config) { c.BlockShare = true }},
		{"coft", func(c *Config) { c.COFT = true; c.Eps = 1e-3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, base := randomLayer(t, tc.mutate, false)
			l.SetTraining(true)
			l.Param.SetTrainable(true)
			reps := nn.NewReplicas()
			r, err := l.ReplicaOn(base.Replica(reps), reps)
			if err != nil {
				t.Fatal(err)
			}
			rl := r.(*Layer)
			rng := tensor.NewRNG(11)
			xs := []*tensor.Tensor{rng.Randn(1, 6, 24), rng.Randn(1, 4, 24), rng.Randn(1, 5, 24)}
			dys := []*tensor.Tensor{rng.Randn(1, 6, 10), rng.Randn(1, 4, 10), rng.Randn(1, 5, 10)}
			run := func(shared bool) (grad []float32, dxs [][]float32) {
				l.Param.ZeroGrad()
				rl.Param.ZeroGrad()
				if shared {
					l.ShareStep(true)
				}
				for i, layer := range []*Layer{l, rl, l} {
					layer.Forward(xs[i])
					dxs = append(dxs, append([]float32(nil), layer.Backward(dys[i]).Data...))
				}
				if shared {
					l.ShareStep(false)
					for i, v := range rl.Param.Grad.Data {
						if v != 0 {
							t.Fatalf("replica's gradient [%d] = %g in a shared step, want 0", i, v)
						}
					}
				}
				grad = append([]float32(nil), l.Param.Grad.Data...)
				kernels.Add(grad, rl.Param.Grad.Data)
				return grad, dxs
			}
			want, wantDx := run(false)
			got, gotDx := run(true)
			var top float64
			for _, v := range want {
				top = max(top, math.Abs(float64(v)))
			}
			if top == 0 {
				t.Fatal("zero gradient: the test checks nothing")
			}
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*top {
					t.Fatalf("gradient [%d] = %g in a shared step, %g with each pass's own Cayley backward", i, got[i], want[i])
				}
			}
			for p := range wantDx {
				for i := range wantDx[p] {
					if gotDx[p][i] != wantDx[p][i] {
						t.Fatalf("pass %d: dx[%d] = %g in a shared step, %g without", p, i, gotDx[p][i], wantDx[p][i])
					}
				}
			}
		})
	}
}
