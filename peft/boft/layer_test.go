package boft

import (
	"fmt"
	"math"
	"testing"

	"github.com/orthotune/orthotune/internal/gradcheck"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

// randomLayer builds a BOFT layer on a random 32→10 linear layer (or
// Conv1D) with blocks of 4, m factors and random (non-identity) boft_R
// and boft_s.
func randomLayer(t *testing.T, m int, conv1D bool, mutate func(*Config)) (*Layer, *nn.Linear) {
	t.Helper()
	rng := tensor.NewRNG(5)
	in, out := 32, 10
	shape := []int{out, in}
	if conv1D {
		shape = []int{in, out}
	}
	base, err := nn.NewLinear("layer", rng.Randn(0.5, shape...), rng.Randn(0.1, out), conv1D)
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig(peft.Names("layer"))
	cfg.BlockSize, cfg.Factors, cfg.InitWeights = 4, m, false
	if mutate != nil {
		mutate(cfg)
	}
	l, err := cfg.NewLayer(model.NewSlot(base), rng)
	if err != nil {
		t.Fatal(err)
	}
	return l.(*Layer), base
}

// TestGradients checks dL/dx, dL/d(boft_R) and dL/d(boft_s) against finite
// differences for 1, 2 and 3 butterfly factors, nn.Linear and Conv1D, on
// both forward paths (input rotated; M folded into the weight).
func TestGradients(t *testing.T) {
	for _, m := range []int{1, 2, 3} {
		for _, conv1D := range []bool{false, true} {
			for _, rows := range []int{6, 40} { // 40 > m·out: folded
				t.Run(fmt.Sprintf("m%d_conv1D%v_rows%d", m, conv1D, rows), func(t *testing.T) {
					l, base := randomLayer(t, m, conv1D, nil)
					l.R.SetTrainable(true)
					l.S.SetTrainable(true)
					rng := tensor.NewRNG(9)
					x := rng.Randn(1, rows, 32)
					g := rng.Randn(1, rows, 10)
					loss := func() float64 { return gradcheck.WeightedSum(l.Forward(x).Data, g.Data) }
					loss()
					if want := rows > m*base.Out; l.folded != want {
						t.Fatalf("folded %v, want %v", l.folded, want)
					}
					dx := l.Backward(g)
					est := gradcheck.WithStep(gradcheck.Richardson, 1e-2)
					idx := func(n int) []int { // a sample of the inputs, to keep the test short
						var out []int
						for i := 0; i < n; i += 1 + n/97 {
							out = append(out, i)
						}
						return out
					}
					relX := gradcheck.MaxError(x.Data, dx.Data, idx(len(x.Data)), est, loss) / gradcheck.MaxAbs(dx.Data)
					relR := gradcheck.MaxError(l.R.W.Data, l.R.Grad.Data, nil, est, loss) / gradcheck.MaxAbs(l.R.Grad.Data)
					relS := gradcheck.MaxError(l.S.W.Data, l.S.Grad.Data, nil, est, loss) / gradcheck.MaxAbs(l.S.Grad.Data)
					t.Logf("max relative error: dx %.3g, d(boft_R) %.3g, d(boft_s) %.3g", relX, relR, relS)
					if relX > 1e-3 || relR > 1e-3 || relS > 1e-3 || math.IsNaN(relX+relR+relS) {
						t.Errorf("relative errors dx %.3g, dR %.3g, ds %.3g exceed 1e-3", relX, relR, relS)
					}
				})
			}
		}
	}
}

// TestTrainableBiasGradient: with bias "boft_only" the base bias is
// trained; it is not scaled by boft_s, so its gradient is dy's.
func TestTrainableBiasGradient(t *testing.T) {
	l, base := randomLayer(t, 2, false, nil)
	base.Bias.SetTrainable(true)
	x := tensor.NewRNG(1).Randn(1, 3, 32)
	g := tensor.NewRNG(2).Randn(1, 3, 10)
	loss := func() float64 { return gradcheck.WeightedSum(l.Forward(x).Data, g.Data) }
	loss()
	l.Backward(g)
	err := gradcheck.MaxError(base.Bias.W.Data, base.Bias.Grad.Data, nil, gradcheck.WithStep(gradcheck.Richardson, 1e-2), loss)
	if err > 1e-3 {
		t.Errorf("bias gradient off by %.3g", err)
	}
}

// TestForwardPathsAgree: the folded forward (more rows than m·out) and the
// rotated-input forward give the same output, also over a bfloat16 base.
func TestForwardPathsAgree(t *testing.T) {
	for _, conv1D := range []bool{false, true} {
		l, base := randomLayer(t, 3, conv1D, nil)
		rows := 4 * base.Out * 3
		x := tensor.NewRNG(8).Randn(1, rows, base.In)
		whole := l.Forward(x).Clone()
		if !l.folded {
			t.Fatal("not folded")
		}
		for r0 := 0; r0 < rows; r0 += base.Out {
			r1 := min(r0+base.Out, rows)
			part := &tensor.Tensor{Shape: []int{r1 - r0, base.In}, Data: x.Data[r0*base.In : r1*base.In]}
			got := l.Forward(part)
			if l.folded {
				t.Fatal("folded a small batch")
			}
			if d := tensor.MaxAbsDiff(got.Data, whole.Data[r0*base.Out:r1*base.Out]); d > 1e-5 {
				t.Fatalf("conv1D=%v: rows %d–%d differ by %.3g between the paths", conv1D, r0, r1, d)
			}
		}
	}
}

// TestDropout: in training one factor is chosen and int(p·D) of its blocks
// are replaced by the identity — the same output as a layer whose dropped
// blocks have A = 0 — dropped blocks get no gradient, and evaluation
// applies every block.
func TestDropout(t *testing.T) {
	l, base := randomLayer(t, 3, false, func(c *Config) { c.Dropout = 0.5 })
	l.R.SetTrainable(true)
	x := tensor.NewRNG(1).Randn(1, 5, 32)
	evalY := l.Forward(x).Clone()
	l.SetTraining(true)
	seen := map[int]bool{}
	bb := 16
	for step := 0; step < 12; step++ {
		y := l.Forward(x).Clone()
		n := 0
		for _, d := range l.dropped {
			if d {
				n++
			}
		}
		if n != int(0.5*float64(l.Blocks)) {
			t.Fatalf("step %d: %d blocks dropped, want %d", step, n, l.Blocks/2)
		}
		seen[l.dropFactor] = true
		l.R.ZeroGrad()
		l.Backward(tensor.NewRNG(2).Randn(1, 5, 10))
		refR := l.R.W.Clone()
		for d, drop := range l.dropped {
			k := l.dropFactor*l.Blocks + d
			if drop {
				clear(refR.Data[k*bb : (k+1)*bb])
				if gradcheck.MaxAbs(l.R.Grad.Data[k*bb:(k+1)*bb]) != 0 {
					t.Fatalf("step %d: dropped block %d has a gradient", step, d)
				}
			}
		}
		ref := &Layer{LayerCore: peft.NewLayerCore(base, 0), R: nn.NewParam("r", refR), S: l.S, BlockSize: 4, Blocks: l.Blocks, Factors: 3, bf: l.bf}
		if d := tensor.MaxAbsDiff(ref.Forward(x).Data, y.Data); d > 1e-6 {
			t.Fatalf("step %d: dropout output differs from the identity-block reference by %g", step, d)
		}
	}
	if len(seen) < 2 {
		t.Errorf("12 steps chose only factors %v", seen)
	}
	l.SetTraining(false)
	if d := tensor.MaxAbsDiff(l.Forward(x).Data, evalY.Data); d != 0 {
		t.Fatalf("evaluation output changed after training by %g", d)
	}
}

// TestMergeUnmergeRoundTrip: the merged layer computes the adapter's
// output and unmerge restores the weight, for 1–3 factors and both
// layouts.
func TestMergeUnmergeRoundTrip(t *testing.T) {
	for _, m := range []int{1, 2, 3} {
		for _, conv1D := range []bool{false, true} {
			l, base := randomLayer(t, m, conv1D, nil)
			orig := base.Weight.W.Clone()
			x := tensor.NewRNG(3).Randn(1, 4, 32)
			y := l.Forward(x).Clone()
			if err := l.Merge(); err != nil {
				t.Fatal(err)
			}
			if d := tensor.MaxAbsDiff(base.Forward(x).Data, y.Data); d > 1e-5 {
				t.Errorf("m=%d conv1D=%v: merged forward differs by %g", m, conv1D, d)
			}
			if err := l.Unmerge(); err != nil {
				t.Fatal(err)
			}
			if d := tensor.MaxAbsDiff(base.Weight.W.Data, orig.Data); d > 1e-6 {
				t.Errorf("m=%d conv1D=%v: unmerge left the weight %g away", m, conv1D, d)
			}
		}
	}
}

// TestInitIsIdentity: a fresh adapter with init_weights computes the base
// layer exactly.
func TestInitIsIdentity(t *testing.T) {
	l, base := randomLayer(t, 2, false, func(c *Config) { c.InitWeights = true })
	x := tensor.NewRNG(3).Randn(1, 4, 32)
	want := base.Forward(x).Clone()
	if d := tensor.MaxAbsDiff(l.Forward(x).Data, want.Data); d > 1e-6 {
		t.Errorf("identity init changes the output by %g", d)
	}
}

// TestReplicas: a replica reads the blocks the layer computes at ShareStep,
// computes the same output, keeps its own gradients, draws dropout masks
// from a generator the layer seeds, and is forgotten by DropReplicas.
func TestReplicas(t *testing.T) {
	l, base := randomLayer(t, 2, false, func(c *Config) { c.Dropout = 0.5 })
	l.R.SetTrainable(true)
	l.S.SetTrainable(true)
	reps := nn.NewReplicas()
	r, err := l.ReplicaOn(base.Replica(reps), reps)
	if err != nil {
		t.Fatal(err)
	}
	rl := r.(*Layer)
	x := tensor.NewRNG(1).Randn(1, 5, 32)
	l.ShareStep(true)
	y := l.Forward(x).Clone()
	if d := tensor.MaxAbsDiff(rl.Forward(x).Data, y.Data); d != 0 {
		t.Errorf("replica output differs by %g", d)
	}
	if &rl.curR[0] != &l.r[0] {
		t.Error("the replica computed its own blocks during a shared step")
	}
	l.ShareStep(false)
	if rl.R.Grad == l.R.Grad || rl.R.W != l.R.W {
		t.Error("the replica should share boft_R's values and have its own gradient")
	}
	l.SetTraining(true)
	rl.SetTraining(true)
	differ := false
	for range 8 {
		l.ShareStep(true)
		l.Forward(x)
		rl.Forward(x)
		l.ShareStep(false)
		for i := range l.dropped {
			if l.dropped[i] != rl.dropped[i] || l.dropFactor != rl.dropFactor {
				differ = true
			}
		}
	}
	if !differ {
		t.Error("the replica drew the layer's masks in 8 steps")
	}
	l.DropReplicas()
	if l.Replicas() != 0 {
		t.Error("DropReplicas left replicas")
	}
	if err := l.Merge(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ReplicaOn(base, reps); err == nil {
		t.Error("a merged layer made a replica")
	}
}

// TestDiagnostics: block size, blocks, factors, an orthogonal M with
// positive determinant, and the description.
func TestDiagnostics(t *testing.T) {
	l, _ := randomLayer(t, 3, false, nil)
	got := map[string]any{}
	for _, d := range l.Diagnostics() {
		got[d.Key] = d.Value
	}
	if got["block_size"] != 4 || got["blocks"] != 8 || got["butterfly_factors"] != 3 || got["det_sign"] != 1 {
		t.Errorf("diagnostics %v", got)
	}
	if e := got["orthogonality_error"].(float64); !(e < 1e-5) {
		t.Errorf("‖MᵀM − I‖_F = %g", e)
	}
	if s := l.Describe(); s != "8 blocks of 4, 3 butterfly factors, exact Cayley" {
		t.Errorf("Describe() = %q", s)
	}
}

// TestFoldedForwardWithBF16Base checks the folded forward over a base
// weight held in bfloat16 against the same weight in float32.
func TestFoldedForwardWithBF16Base(t *testing.T) {
	l32, b32 := randomLayer(t, 2, false, nil)
	l16, b16 := randomLayer(t, 2, false, nil)
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
	if !l16.folded {
		t.Fatal("not folded")
	}
	if d := tensor.MaxAbsDiff(got.Data, want.Data); d != 0 {
		t.Fatalf("bfloat16 base differs from float32 by %g", d)
	}
	if err := l16.Merge(); err == nil {
		t.Error("merged into a bfloat16 weight")
	}
}

func BenchmarkForwardBackward(bm *testing.B) {
	for _, m := range []int{1, 2, 4} {
		bm.Run(fmt.Sprintf("m%d", m), func(bm *testing.B) {
			rng := tensor.NewRNG(1)
			in, out, rows := 512, 512, 256
			base, _ := nn.NewLinear("layer", rng.Randn(0.05, out, in), nil, false)
			cfg := NewConfig(peft.Names("layer"))
			cfg.BlockSize, cfg.Factors, cfg.InitWeights = 16, m, false
			pl, err := cfg.NewLayer(model.NewSlot(base), rng)
			if err != nil {
				bm.Fatal(err)
			}
			l := pl.(*Layer)
			l.R.SetTrainable(true)
			l.S.SetTrainable(true)
			x, g := rng.Randn(1, rows, in), rng.Randn(1, rows, out)
			bm.ReportAllocs()
			for bm.Loop() {
				l.Forward(x)
				tensor.Put(l.Backward(g))
			}
		})
	}
}
