package hra

import (
	"fmt"
	"log/slog"
	"math"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/orth"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

// dependentTol is the Gram–Schmidt residual, relative to the column's
// norm, below which LoadLayer refuses hra_u with apply_GS: PEFT (float32)
// would orthonormalise rounding noise there.
const dependentTol = 1e-5

// Layer is an HRA-adapted linear layer: base(x·Hᵀ) = x·(W·H)ᵀ + b.
type Layer struct {
	peft.LayerCore
	Param *nn.Param // hra_u, (in, r)
	R     int
	GS    bool // apply_GS

	merged *orth.Householder // the factor a Merge applied, for Unmerge

	// origin is the layer a replica was made from (nil for the original);
	// shareStep, on the original, says its h holds this data-parallel
	// step's factor, for it and its replicas to read.
	origin    *Layer
	shareStep bool

	h   orth.Householder  // built from Param (Factor)
	cur *orth.Householder // the factor the last Forward applied
	x   *tensor.Tensor    // the last Forward's input
	z   *tensor.Tensor    // x·Hᵀ, kept when the base is trainable
}

var _ peft.Layer = (*Layer)(nil)

// NewLayer wraps slot's base layer with fresh hra_u. For even r with
// init_weights the columns come in equal pairs (PEFT's symmetric init), so
// H = I and the adapted model starts as the base model. Odd r (PEFT warns
// too) and init_weights=false draw every column from kaiming_uniform(a=√5).
// With apply_GS every column is drawn independently whatever init_weights
// says: PEFT's pairs would leave Gram–Schmidt only rounding residue to
// normalise, giving an H that is neither the identity nor orthogonal, and
// I − 2QQᵀ can never be the identity; independent columns give an exact
// orthogonal H (a reflection of an r-dimensional subspace).
func (c *Config) NewLayer(slot *model.LinearSlot, rng *tensor.RNG) (peft.Layer, error) {
	in, r := slot.Base.In, c.R
	if r <= 0 {
		return nil, fmt.Errorf("layer %s: r must be positive, got %d", slot.Name, r)
	}
	if c.ApplyGS && r > in {
		return nil, fmt.Errorf("layer %s: r %d exceeds the layer's %d input features: Gram–Schmidt (apply_GS) cannot orthonormalise more vectors than dimensions", slot.Name, r, in)
	}
	u := tensor.New(in, r)
	switch {
	case c.InitWeights && !c.ApplyGS && r%2 == 0:
		// kaiming_uniform_(a=√5) on (in, r/2): U(±1/√(r/2)), each column twice.
		half := tensor.New(in, r/2)
		bound := 1 / math.Sqrt(float64(r/2))
		rng.Uniform(half, -bound, bound)
		for k := range in {
			for i := range r {
				u.Data[k*r+i] = half.Data[k*(r/2)+i/2]
			}
		}
	default:
		if c.InitWeights && !c.warned {
			c.warned = true
			if c.ApplyGS {
				slog.Warn("hra: apply_GS: the symmetric init is not used (PEFT's pairs of equal vectors leave Gram–Schmidt only rounding noise, so its H is neither the identity nor orthogonal); drawing independent vectors instead: H = I − 2QQᵀ is orthogonal but not the identity, so training starts away from the base model")
			} else {
				slog.Warn(fmt.Sprintf("hra: r = %d is odd: the symmetric init needs pairs, so the vectors are random and H is not the identity at the start (as in PEFT)", r))
			}
		}
		bound := 1 / math.Sqrt(float64(r)) // kaiming_uniform_(a=√5) on (in, r)
		rng.Uniform(u, -bound, bound)
	}
	return c.newLayer(slot, u, uint64(rng.IntN(1<<62))), nil
}

// LoadLayer wraps slot's base layer with stored hra_u, (in_features, r).
// With apply_GS it refuses columns that Gram–Schmidt cannot orthonormalise
// (dependent, or more than in_features of them), where PEFT would produce
// rounding noise or NaN.
func (c *Config) LoadLayer(slot *model.LinearSlot, ts map[string]*tensor.Tensor) (peft.Layer, error) {
	u := ts["hra_u"]
	in := slot.Base.In
	switch {
	case c.R <= 0:
		return nil, fmt.Errorf("layer %s: r must be positive, got %d", slot.Name, c.R)
	case len(u.Shape) != 2:
		return nil, fmt.Errorf("layer %s: hra_u has shape %v, want (in_features %d, r %d)", slot.Name, u.Shape, in, c.R)
	case u.Shape[0] != in:
		return nil, fmt.Errorf("layer %s: hra_u has shape %v: %d rows, but the layer has %d input features (adapter made for a different model?)", slot.Name, u.Shape, u.Shape[0], in)
	case u.Shape[1] != c.R:
		return nil, fmt.Errorf("layer %s: hra_u has shape %v: %d vectors, but the config's r is %d: adapter_config.json does not match the weights", slot.Name, u.Shape, u.Shape[1], c.R)
	}
	if c.ApplyGS {
		if c.R > in {
			return nil, fmt.Errorf("layer %s: hra_u has shape %v: r %d exceeds the %d input features, so Gram–Schmidt (apply_GS) cannot orthonormalise its columns (PEFT computes NaN)", slot.Name, u.Shape, c.R, in)
		}
		h := orth.NewHouseholder(u.Data, in, c.R, true)
		if i, rel := h.DependentColumn(dependentTol); i >= 0 {
			return nil, fmt.Errorf("layer %s: hra_u column %d is (almost) a combination of the columns before it (Gram–Schmidt residual %.3g of its norm): with apply_GS the reflection would be rounding noise — PEFT's default init_weights with apply_GS writes such pairs of equal columns; train the adapter first, or re-create it with orthotune, whose apply_GS init draws independent vectors", slot.Name, i, rel)
		}
	}
	return c.newLayer(slot, u, nameSeed(slot.Name)), nil
}

// nameSeed derives a seed from a module name (FNV-1a).
func nameSeed(name string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	return h
}

func (c *Config) newLayer(slot *model.LinearSlot, u *tensor.Tensor, seed uint64) *Layer {
	return &Layer{
		LayerCore: peft.NewLayerCore(slot.Base, seed),
		Param:     nn.NewParam(slot.Name+".hra_u", u),
		R:         c.R,
		GS:        c.ApplyGS,
	}
}

// Tensors lists hra_u.
func (l *Layer) Tensors() []peft.Tensor { return []peft.Tensor{{Suffix: "hra_u", Param: l.Param}} }

// Merged reports whether H is folded into the base weight.
func (l *Layer) Merged() bool { return l.merged != nil }

// Describe summarises the layer.
func (l *Layer) Describe() string {
	if l.GS {
		return fmt.Sprintf("r %d, Gram–Schmidt: I − 2QQᵀ", l.R)
	}
	if l.R == 1 {
		return "r 1, one reflection"
	}
	return fmt.Sprintf("r %d, product of %d reflections", l.R, l.R)
}

// Factor builds H from the current hra_u.
func (l *Layer) Factor() *orth.Householder {
	l.h.Set(l.Param.W.Data, l.Base().In, l.R, l.GS)
	return &l.h
}

// ShareStep(true) builds H once for the data-parallel step about to run
// (see model.StepSharer), for the layer and its replicas to read;
// ShareStep(false) ends the step, before the parameters change. HRA draws
// no random numbers, so there is nothing to seed.
func (l *Layer) ShareStep(on bool) {
	if on {
		l.Factor()
	}
	l.shareStep = on
}

// stepFactor returns the factor this Forward applies: the step's shared
// one (see ShareStep) or a freshly built one.
func (l *Layer) stepFactor() *orth.Householder {
	if l.origin != nil && l.origin.shareStep {
		return &l.origin.h
	}
	if l.origin == nil && l.shareStep {
		return &l.h
	}
	return l.Factor()
}

// Forward computes base(x·Hᵀ): the reflections applied to the input rows,
// then the frozen base. A batch with more rows than the layer has outputs
// folds H into a scratch copy of the weight instead (W·H, or Hᵀ·W for
// Conv1D), which then costs less.
func (l *Layer) Forward(x *tensor.Tensor) *tensor.Tensor {
	h := l.stepFactor()
	l.cur, l.x = h, x
	in, out := l.Base().In, l.Base().Out
	rowsN := x.Len() / in
	if l.Base().Weight.Trainable() { // the base keeps its input for its weight gradient
		l.z = tensor.Reuse(l.z, x.Shape...)
		h.RowsT(x.Data, rowsN, l.z.Data)
		return l.Base().Forward(l.z)
	}
	if rowsN > out {
		buf := tensor.Get(2 * in * out)
		defer tensor.Put(buf)
		w, weff := l.Base().Weight.W.Data, buf.Data[in*out:]
		if l.Base().BF16() {
			w = buf.Data[:in*out]
			l.Base().WeightInto(w)
		}
		if l.Base().Conv1D { // W (in, out) ← Hᵀ·W
			h.LeftT(w, out, weff)
		} else { // W (out, in) ← W·H
			h.Rows(w, out, weff)
		}
		return l.Base().ForwardWith(x, weff)
	}
	z := tensor.Get(x.Shape...)
	defer tensor.Put(z)
	h.RowsT(x.Data, rowsN, z.Data)
	return l.Base().Forward(z)
}

// Backward returns dL/dx = dz·H, dz the base layer's input gradient, and
// accumulates dL/d(hra_u) when trainable.
func (l *Layer) Backward(dy *tensor.Tensor) *tensor.Tensor {
	dz := l.Base().Backward(dy)
	rowsN := dz.Len() / l.Base().In
	if g := l.Param.Grad; g != nil {
		l.cur.Backward(l.x.Data, dz.Data, rowsN, g.Data)
	}
	l.cur.Rows(dz.Data, rowsN, dz.Data) // in place: dz is ours (tensor's pool)
	return dz
}

// Merge folds H into the base weight: W ← W·H for nn.Linear, W ← Hᵀ·W for
// Conv1D (PEFT's merge of the equivalent nn.Linear).
func (l *Layer) Merge() error {
	if l.merged != nil {
		return nil
	}
	if l.Base().BF16() {
		return fmt.Errorf("%s: merge: %w", l.Base().Name, nn.ErrBF16)
	}
	h := orth.NewHouseholder(l.Param.W.Data, l.Base().In, l.R, l.GS)
	w, out := l.Base().Weight.W.Data, l.Base().Out
	if l.Base().Conv1D {
		h.LeftT(w, out, w)
	} else {
		h.Rows(w, out, w)
	}
	l.merged = h
	return l.checkFinite("merge")
}

// Unmerge multiplies the base weight by the inverse of the merged H: Hᵀ
// for the product of reflections (what PEFT's reversed product computes);
// for Gram–Schmidt the exact inverse, which is H itself only when Q is
// orthonormal.
func (l *Layer) Unmerge() error {
	if l.merged == nil {
		return nil
	}
	inv, err := l.merged.Inverse()
	if err != nil {
		return fmt.Errorf("%s: unmerge: %w", l.Base().Name, err)
	}
	w, out := l.Base().Weight.W.Data, l.Base().Out
	if l.Base().Conv1D { // W = H⁻ᵀ·W'
		inv.LeftT(w, out, w)
	} else { // W = W'·H⁻¹
		inv.Rows(w, out, w)
	}
	l.merged = nil
	return l.checkFinite("unmerge")
}

func (l *Layer) checkFinite(op string) error {
	for _, v := range l.Base().Weight.W.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%s: %s produced non-finite weights; the adapter is broken", l.Base().Name, op)
		}
	}
	return nil
}

// Release drops the input and x·Hᵀ, and releases the base layer
// (nn.Releaser).
func (l *Layer) Release() {
	l.x, l.z = nil, nil
	l.Base().Release()
}

// ReplicaOn returns a replica of the layer over base, a replica of its
// base layer, for data-parallel training (see nn.Replicas): the same
// hra_u with a gradient buffer of its own, reading the factor its origin
// builds at each ShareStep. A merged layer is not trained, so it refuses.
func (l *Layer) ReplicaOn(base *nn.Linear, r *nn.Replicas) (nn.Layer, error) {
	if l.merged != nil {
		return nil, fmt.Errorf("hra: the layer is merged into its base: no replicas")
	}
	origin := l
	if l.origin != nil {
		origin = l.origin
	}
	return &Layer{LayerCore: origin.ReplicaCore(base), Param: r.Param(l.Param), R: l.R, GS: l.GS, origin: origin}, nil
}

// Diagnostics reports r, whether Gram–Schmidt is applied, ‖HᵀH − I‖_F and
// the sign of det H, both computed from H itself in float64 (the sign is
// (−1)^r for the product of reflections and for Gram–Schmidt of
// independent vectors: an odd r makes H a reflection, not a rotation).
func (l *Layer) Diagnostics() []peft.Diagnostic {
	h := orth.NewHouseholder(l.Param.W.Data, l.Base().In, l.R, l.GS)
	sign, _ := h.Determinant()
	return []peft.Diagnostic{
		{Key: "r", Label: "r", Value: l.R},
		{Key: "apply_GS", Label: "GS", Value: l.GS},
		{Key: "orthogonality_error", Label: "‖HᵀH−I‖_F", Value: h.OrthogonalityError(), Format: "%.2e"},
		{Key: "det_sign", Label: "det H", Value: sign, Format: "%+d"},
	}
}
