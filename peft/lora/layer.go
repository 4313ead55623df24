package lora

import (
	"fmt"
	"math"

	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

// Layer is a LoRA-adapted linear layer.
type Layer struct {
	peft.LayerCore
	A       *nn.Param // lora_A.weight (r, in)
	B       *nn.Param // lora_B.weight (out, r)
	Rank    int
	Scaling float64
	Dropout float64

	merged bool

	// forward state
	xd   *tensor.Tensor // dropout(x)
	mask []float32      // dropout scale per element of x (nil: no dropout)
	h    *tensor.Tensor // xd·Aᵀ, rows×r, reused between steps
}

var _ peft.Layer = (*Layer)(nil)

// NewLayer wraps slot's base layer with fresh LoRA matrices.
func (c *Config) NewLayer(slot *model.LinearSlot, rng *tensor.RNG) (peft.Layer, error) {
	r, alpha := c.RankAlpha(slot.Name)
	in, out := slot.Base.In, slot.Base.Out
	a, b := tensor.New(r, in), tensor.New(out, r)
	switch {
	case c.InitLoraWeights.IsBool && c.InitLoraWeights.Bool:
		// kaiming_uniform_(a=√5) on (r, in): U(±1/√in); B = 0.
		bound := 1 / math.Sqrt(float64(in))
		rng.Uniform(a, -bound, bound)
	case c.InitLoraWeights.IsBool:
		// init_lora_weights=false: both keep nn.Linear's default init, so
		// the adapter starts away from the identity.
		rng.Uniform(a, -1/math.Sqrt(float64(in)), 1/math.Sqrt(float64(in)))
		rng.Uniform(b, -1/math.Sqrt(float64(r)), 1/math.Sqrt(float64(r)))
	case c.InitLoraWeights.Name == "gaussian":
		rng.Normal(a, 0, 1/float64(r))
	default:
		return nil, fmt.Errorf("init_lora_weights %q is not supported for a new adapter (supported: true, false, \"gaussian\")", c.InitLoraWeights.Name)
	}
	return c.newLayer(slot, a, b, r, alpha, uint64(rng.IntN(1<<62)))
}

// LoadLayer wraps slot's base layer with stored lora_A / lora_B.
func (c *Config) LoadLayer(slot *model.LinearSlot, ts map[string]*tensor.Tensor) (peft.Layer, error) {
	a, b := ts["lora_A.weight"], ts["lora_B.weight"]
	r, alpha := c.RankAlpha(slot.Name)
	in, out := slot.Base.In, slot.Base.Out
	if len(a.Shape) != 2 || a.Shape[1] != in {
		return nil, fmt.Errorf("layer %s: lora_A.weight has shape %v, the layer has %d input features (adapter made for a different model?)", slot.Name, a.Shape, in)
	}
	if len(b.Shape) != 2 || b.Shape[0] != out {
		return nil, fmt.Errorf("layer %s: lora_B.weight has shape %v, the layer has %d output features (adapter made for a different model?)", slot.Name, b.Shape, out)
	}
	if a.Shape[0] != r || b.Shape[1] != r {
		return nil, fmt.Errorf("layer %s: lora_A.weight %v and lora_B.weight %v disagree with the configured rank %d", slot.Name, a.Shape, b.Shape, r)
	}
	return c.newLayer(slot, a, b, r, alpha, 0)
}

func (c *Config) newLayer(slot *model.LinearSlot, a, b *tensor.Tensor, r int, alpha float64, seed uint64) (*Layer, error) {
	return &Layer{
		LayerCore: peft.NewLayerCore(slot.Base, seed),
		A:         nn.NewParam(slot.Name+".lora_A.weight", a), B: nn.NewParam(slot.Name+".lora_B.weight", b),
		Rank: r, Scaling: c.Scaling(r, alpha), Dropout: c.LoraDropout,
	}, nil
}

// Tensors lists lora_A.weight and lora_B.weight.
func (l *Layer) Tensors() []peft.Tensor {
	return []peft.Tensor{{Suffix: "lora_A.weight", Param: l.A}, {Suffix: "lora_B.weight", Param: l.B}}
}

// Release drops dropout(x), its mask and x·Aᵀ, and releases the base
// layer (nn.Releaser).
func (l *Layer) Release() {
	tensor.Put(l.h)
	l.xd, l.mask, l.h = nil, nil, nil
	l.Base().Release()
}

// Merged reports whether B·A is folded into the base weight.
func (l *Layer) Merged() bool { return l.merged }

// Describe summarises the layer.
func (l *Layer) Describe() string { return fmt.Sprintf("rank %d, scaling %.4g", l.Rank, l.Scaling) }

// Diagnostics reports the rank and the scaling s.
func (l *Layer) Diagnostics() []peft.Diagnostic {
	return []peft.Diagnostic{{Key: "rank", Label: "rank", Value: l.Rank}, {Key: "scaling", Label: "scaling", Value: l.Scaling, Format: "%.4g"}}
}

// Forward computes base(x) + s·(dropout(x)·Aᵀ)·Bᵀ.
func (l *Layer) Forward(x *tensor.Tensor) *tensor.Tensor {
	y := l.Base().Forward(x)
	in, out, r := l.Base().In, l.Base().Out, l.Rank
	n := x.Len() / in
	l.xd, l.mask = x, nil
	if l.Training() && l.Dropout > 0 {
		keep := float32(1 / (1 - l.Dropout))
		l.mask = make([]float32, x.Len())
		l.xd = tensor.New(x.Shape...)
		for i, v := range x.Data {
			if l.RNG().Float64() >= l.Dropout {
				l.mask[i] = keep
				l.xd.Data[i] = v * keep
			}
		}
	}
	l.h = tensor.Reuse(l.h, n, r)
	h := l.h.Data
	kernels.Gemm(false, true, n, r, in, 1, l.xd.Data, in, l.A.W.Data, in, 0, h, r)
	kernels.Gemm(false, true, n, out, r, float32(l.Scaling), h, r, l.B.W.Data, r, 1, y.Data, out)
	return y
}

// Backward returns dL/dx and accumulates dL/dA and dL/dB when trainable.
func (l *Layer) Backward(dy *tensor.Tensor) *tensor.Tensor {
	dx := l.Base().Backward(dy)
	in, out, r := l.Base().In, l.Base().Out, l.Rank
	n := dy.Len() / out
	s := float32(l.Scaling)
	if g := l.B.Grad; g != nil { // dB += s·dyᵀ·h
		kernels.Gemm(true, false, out, r, n, s, dy.Data, out, l.h.Data, r, 1, g.Data, r)
	}
	dhT := tensor.Get(n, r) // s·dy·B
	defer tensor.Put(dhT)
	dh := dhT.Data
	kernels.Gemm(false, false, n, r, out, s, dy.Data, out, l.B.W.Data, r, 0, dh, r)
	if g := l.A.Grad; g != nil { // dA += dhᵀ·xd
		kernels.Gemm(true, false, r, in, n, 1, dh, r, l.xd.Data, in, 1, g.Data, in)
	}
	if l.mask == nil {
		kernels.Gemm(false, false, n, in, r, 1, dh, r, l.A.W.Data, in, 1, dx.Data, in)
		return dx
	}
	dxdT := tensor.Get(n, in)
	defer tensor.Put(dxdT)
	dxd := dxdT.Data
	kernels.Gemm(false, false, n, in, r, 1, dh, r, l.A.W.Data, in, 0, dxd, in)
	for i, m := range l.mask {
		dx.Data[i] += dxd[i] * m
	}
	return dx
}

// Merge adds s·B·A to the base weight (its transpose for Conv1D).
func (l *Layer) Merge() error {
	if l.merged {
		return nil
	}
	if l.Base().BF16() {
		return fmt.Errorf("%s: merge: %w", l.Base().Name, nn.ErrBF16)
	}
	l.addDelta(1)
	l.merged = true
	return l.checkFinite()
}

// Unmerge subtracts what Merge added.
func (l *Layer) Unmerge() error {
	if !l.merged {
		return nil
	}
	l.addDelta(-1)
	l.merged = false
	return l.checkFinite()
}

func (l *Layer) addDelta(sign float32) {
	in, out, r := l.Base().In, l.Base().Out, l.Rank
	s := sign * float32(l.Scaling)
	w := l.Base().Weight.W.Data
	if l.Base().Conv1D { // W (in, out) += s·Aᵀ·Bᵀ
		kernels.Gemm(true, true, in, out, r, s, l.A.W.Data, in, l.B.W.Data, r, 1, w, out)
	} else { // W (out, in) += s·B·A
		kernels.Gemm(false, false, out, in, r, s, l.B.W.Data, r, l.A.W.Data, in, 1, w, in)
	}
}

func (l *Layer) checkFinite() error {
	for _, v := range l.Base().Weight.W.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%s: merge produced non-finite weights; the adapter is broken", l.Base().Name)
		}
	}
	return nil
}

// ReplicaOn returns a replica of the layer over base, a replica of its
// base layer, for data-parallel training (see nn.Replicas): the same A and
// B with gradient buffers of their own. With dropout the replica draws its
// masks from a generator of its own, seeded from this layer's at every
// step (ShareStep), so the layer's generator alone decides them and a
// resumed run draws what an uninterrupted one would. A merged layer is not
// trained, so it refuses.
func (l *Layer) ReplicaOn(base *nn.Linear, r *nn.Replicas) (nn.Layer, error) {
	if l.merged {
		return nil, fmt.Errorf("lora: the layer is merged into its base: no replicas")
	}
	return &Layer{LayerCore: l.ReplicaCore(base), A: r.Param(l.A), B: r.Param(l.B), Rank: l.Rank, Scaling: l.Scaling,
		Dropout: l.Dropout}, nil
}

// ShareStep(true), before a data-parallel step (see model.StepSharer),
// seeds each replica's dropout generator from the layer's.
func (l *Layer) ShareStep(on bool) {
	if on && l.Training() && l.Dropout > 0 {
		l.SeedReplicas()
	}
}
