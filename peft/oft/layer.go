package oft

import (
	"fmt"
	"log/slog"
	"math"

	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/orth"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

// Layer is an OFT-adapted linear layer.
type Layer struct {
	peft.LayerCore
	Param     *nn.Param // oft_R.weight, (rows, b(b−1)/2)
	BlockSize int
	Blocks    int // chunks of the input: in_features / BlockSize
	Shared    bool
	Cayley    orth.Cayley
	COFT      bool
	Eps       float64
	Dropout   float64 // multiplicative block dropout probability in training

	merged []float32 // the rotation blocks a Merge applied, for Unmerge

	// origin is the layer a replica was made from (nil for the original)
	// and made, on the original, the replicas made from it; shareStep, on
	// the original, says its q and r hold this data-parallel step's
	// rotations, for it and its replicas to read.
	origin    *Layer
	made      []*Layer
	shareStep bool
	// stepGrad, in a shared step, sums the gradients with respect to the
	// rotations (rows·b·b) of this layer's backward passes (stepGradSet:
	// there were some), for ShareStep(false) to take through the Cayley
	// backward once for the original and its replicas together.
	stepGrad    []float32
	stepGradSet bool

	// forward state
	q, r       []float32 // per parameter row: Q and R, rows·b·b (Rotations)
	curQ, curR []float32 // those the last Forward used: q and r, or the origin's
	eff        []float32 // the blocks the last Forward applied: r, or dropBuf
	dropBuf    []float32 // per-chunk blocks with dropped ones set to I, Blocks·b·b
	dropped    []bool
	x          *tensor.Tensor

	// buffers reused from step to step
	xr               *tensor.Tensor
	perChunk, gr, dq []float32
}

var _ peft.Layer = (*Layer)(nil)

// NewLayer wraps slot's base layer with a fresh OFT layer.
func (c *Config) NewLayer(slot *model.LinearSlot, rng *tensor.RNG) (peft.Layer, error) {
	b, warning := c.blockSizeFor(slot.Name, slot.Base.In)
	if warning != "" {
		slog.Warn(warning)
	}
	rows := slot.Base.In / b
	if c.BlockShare {
		rows = 1
	}
	w := tensor.New(rows, orth.NumParams(b))
	if !c.InitWeights {
		rng.Normal(w, 0, 0.1)
	}
	return c.newLayer(slot, w, b, uint64(rng.IntN(1<<62)))
}

// LoadLayer wraps slot's base layer with stored oft_R.weight. The block
// size the tensor's width implies must be the one the config resolves for
// this layer (oft_block_size or r, adjusted as PEFT does when it does not
// divide the layer's input features): a config that contradicts the
// weights is refused rather than one of them silently ignored.
func (c *Config) LoadLayer(slot *model.LinearSlot, ts map[string]*tensor.Tensor) (peft.Layer, error) {
	w := ts["oft_R.weight"]
	if len(w.Shape) != 2 {
		return nil, fmt.Errorf("layer %s: oft_R.weight has shape %v, want (blocks, b(b−1)/2)", slot.Name, w.Shape)
	}
	b, err := orth.BlockSizeFromParams(w.Shape[1])
	if err != nil {
		return nil, fmt.Errorf("layer %s: oft_R.weight has shape %v: %w", slot.Name, w.Shape, err)
	}
	in := slot.Base.In
	switch {
	case in%b != 0:
		return nil, fmt.Errorf("layer %s: oft_R.weight has shape %v, blocks of %d, which do not tile the layer's %d input features (adapter made for a different model?)", slot.Name, w.Shape, b, in)
	case c.BlockShare && w.Shape[0] != 1:
		return nil, fmt.Errorf("layer %s: oft_R.weight has %d rows but block_share is set (want 1)", slot.Name, w.Shape[0])
	case !c.BlockShare && w.Shape[0]*b != in:
		return nil, fmt.Errorf("layer %s: oft_R.weight has shape %v: %d blocks of %d cover %d input features, the layer has %d (adapter made for a different model?)", slot.Name, w.Shape, w.Shape[0], b, w.Shape[0]*b, in)
	}
	if want, _ := c.blockSizeFor(slot.Name, in); want != b {
		setting := fmt.Sprintf("oft_block_size %d", c.BlockSize)
		if c.BlockSize == 0 {
			setting = fmt.Sprintf("r %d", c.R)
		}
		return nil, fmt.Errorf("layer %s: oft_R.weight has shape %v, blocks of %d, but the config's %s gives blocks of %d for the layer's %d input features: adapter_config.json does not match the weights", slot.Name, w.Shape, b, setting, want, in)
	}
	return c.newLayer(slot, w, b, nameSeed(slot.Name))
}

// nameSeed derives a dropout seed from a module name (FNV-1a).
func nameSeed(name string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	return h
}

func (c *Config) newLayer(slot *model.LinearSlot, w *tensor.Tensor, b int, seed uint64) (*Layer, error) {
	l := &Layer{
		LayerCore: peft.NewLayerCore(slot.Base, seed),
		Param:     nn.NewParam(slot.Name+".oft_R.weight", w),
		BlockSize: b,
		Blocks:    slot.Base.In / b,
		Shared:    c.BlockShare,
		Cayley:    c.Cayley(),
		COFT:      c.COFT,
		Eps:       c.Eps,
		Dropout:   c.ModuleDropout,
	}
	return l, nil
}

// Tensors lists oft_R.weight.
func (l *Layer) Tensors() []peft.Tensor {
	return []peft.Tensor{{Suffix: "oft_R.weight", Param: l.Param}}
}

// Merged reports whether the rotation is folded into the base weight.
func (l *Layer) Merged() bool { return l.merged != nil }

// Describe summarises the layer.
func (l *Layer) Describe() string {
	s := fmt.Sprintf("%d blocks of %d, %s", l.Blocks, l.BlockSize, l.Cayley)
	if l.Blocks == 1 {
		s = fmt.Sprintf("1 block of %d, %s", l.BlockSize, l.Cayley)
	}
	if l.Shared {
		s += ", one shared block"
	}
	if l.COFT {
		s += fmt.Sprintf(", COFT radius %.3g", l.Radius())
	}
	return s
}

// Radius is the COFT ball radius eps/√rows, rounded to float32 as PEFT does.
func (l *Layer) Radius() float64 {
	return float64(float32(l.Eps / math.Sqrt(float64(l.Param.W.Shape[0]))))
}

// Rotations computes every parameter row's R (rows·b·b), projecting for
// COFT first as PEFT does before each forward and merge.
func (l *Layer) Rotations() []float32 {
	rows, b := l.Param.W.Shape[0], l.BlockSize
	if l.COFT {
		orth.ProjectCOFT(l.Param.W.Data, rows, b, l.Eps)
	}
	bb := b * b
	if len(l.q) != rows*bb {
		l.q, l.r = make([]float32, rows*bb), make([]float32, rows*bb)
	}
	cols := orth.NumParams(b)
	for i := 0; i < rows; i++ {
		orth.UnpackSkew(l.Param.W.Data[i*cols:(i+1)*cols], b, l.q[i*bb:(i+1)*bb])
	}
	l.Cayley.Rotations(l.q, rows, b, l.r)
	return l.r
}

// ShareStep(true) computes the rotations once for the data-parallel step
// about to run (see model.StepSharer), for the layer and its replicas to
// read rather than each computing its own and, for COFT, each projecting
// the shared parameters in place; with block dropout it also seeds each
// replica's generator from the layer's. In the step, each backward pass
// sums its gradient with respect to the rotations rather than taking it
// through the Cayley backward, which is linear in it. ShareStep(false)
// ends the step, before the parameters change: it adds the layer's and
// its replicas' sums, in replica order, and takes the total through the
// Cayley backward once, into the layer's parameter gradient.
func (l *Layer) ShareStep(on bool) {
	if on {
		l.Rotations()
		if l.Training() && l.Dropout > 0 {
			l.SeedReplicas()
		}
		l.shareStep = true
		return
	}
	l.shareStep = false
	var total []float32
	for i := -1; i < len(l.made); i++ {
		r := l
		if i >= 0 {
			r = l.made[i]
		}
		if !r.stepGradSet {
			continue
		}
		r.stepGradSet = false
		if total == nil {
			total = r.stepGrad
			continue
		}
		kernels.Add(total, r.stepGrad)
	}
	if total != nil {
		l.rotationBackward(l.q, l.r, total)
	}
}

// rotationBackward takes gr, the gradient with respect to the rotations
// r = R(q), through the Cayley backward and into the parameter gradient.
func (l *Layer) rotationBackward(q, r, gr []float32) {
	rows, b := l.Param.W.Shape[0], l.BlockSize
	bb, cols := b*b, orth.NumParams(b)
	l.dq = grow(l.dq, rows*bb)
	l.Cayley.Backwards(q, r, gr, rows, b, l.dq)
	g := l.Param.Grad.Data
	for i := 0; i < rows; i++ {
		orth.SkewGrad(l.dq[i*bb:(i+1)*bb], b, g[i*cols:(i+1)*cols])
	}
}

// stepRotations returns the rotations this Forward applies: the step's
// shared ones (see ShareStep) or freshly computed ones.
func (l *Layer) stepRotations() []float32 {
	src := l
	if l.origin != nil {
		src = l.origin
	}
	if src.shareStep {
		l.curQ, l.curR = src.q, src.r
	} else {
		l.Rotations()
		l.curQ, l.curR = l.q, l.r
	}
	return l.curR
}

// Forward rotates each chunk of x by its block, then runs the base layer.
func (l *Layer) Forward(x *tensor.Tensor) *tensor.Tensor {
	r := l.stepRotations()
	blocks, shared := r, l.Shared
	l.dropped = nil
	if l.Training() && l.Dropout > 0 {
		b := l.BlockSize
		bb := b * b
		l.dropBuf = grow(l.dropBuf, l.Blocks*bb)
		l.dropped = make([]bool, l.Blocks)
		for i := 0; i < l.Blocks; i++ {
			dst := l.dropBuf[i*bb : (i+1)*bb]
			if l.RNG().Float64() < l.Dropout {
				l.dropped[i] = true
				clear(dst)
				for j := 0; j < b; j++ {
					dst[j*b+j] = 1
				}
			} else if shared {
				copy(dst, r[:bb])
			} else {
				copy(dst, r[i*bb:(i+1)*bb])
			}
		}
		blocks, shared = l.dropBuf, false
	}
	l.eff = blocks
	rowsN := x.Len() / l.Base().In
	l.x = x
	if l.Base().Weight.Trainable() { // the base keeps its input for its weight gradient
		l.xr = tensor.Reuse(l.xr, x.Shape...)
		orth.RotateRows(x.Data, rowsN, l.Base().In, l.BlockSize, blocks, shared, l.xr.Data)
		return l.Base().Forward(l.xr)
	}
	// A frozen base does not keep its input, and Backward needs only x, so
	// the rotation may go either side of the product: x·R_bd·Wᵀ =
	// x·(W·R_bdᵀ)ᵀ. Rotating the weight costs out·in·b against rows·in·b
	// for the input, so a training batch (more rows than outputs) folds it
	// into a scratch copy of the weight; generation (a row or a few)
	// rotates the input. Either way the scratch is shared by every layer.
	in, out := l.Base().In, l.Base().Out
	if rowsN > out {
		buf := tensor.Get(2 * in * out)
		defer tensor.Put(buf)
		w, weff := l.Base().Weight.W.Data, buf.Data[in*out:]
		if l.Base().BF16() { // widen into scratch; a float32 weight is read in place
			w = buf.Data[:in*out]
			l.Base().WeightInto(w)
		}
		if l.Base().Conv1D { // W (in, out) ← R_bd·W
			orth.RotateLeft(w, in, out, l.BlockSize, blocks, shared, weff)
		} else { // W (out, in) ← W·R_bdᵀ
			orth.RotateRowsT(w, out, in, l.BlockSize, blocks, shared, weff)
		}
		return l.Base().ForwardWith(x, weff)
	}
	xr := tensor.Get(x.Shape...)
	defer tensor.Put(xr)
	orth.RotateRows(x.Data, rowsN, in, l.BlockSize, blocks, shared, xr.Data)
	return l.Base().Forward(xr)
}

// Backward returns dL/dx and accumulates dL/d(oft_R.weight) when trainable.
func (l *Layer) Backward(dy *tensor.Tensor) *tensor.Tensor {
	dxr := l.Base().Backward(dy)
	in, b := l.Base().In, l.BlockSize
	rowsN := dxr.Len() / in
	shared := l.Shared && l.dropped == nil
	dx := tensor.Get(dxr.Shape...) // the rotation writes every element
	g := l.Param.Grad
	if g == nil || shared {
		orth.RotateRowsT(dxr.Data, rowsN, in, b, l.eff, shared, dx.Data)
		if g == nil {
			tensor.Put(dxr)
			return dx
		}
	}
	bb := b * b
	l.perChunk = grow(l.perChunk, l.Blocks*bb)
	perChunk := l.perChunk
	clear(perChunk)
	if shared {
		orth.BlockGrad(l.x.Data, dxr.Data, rowsN, in, b, false, perChunk)
	} else { // both in one pass over the blocks
		orth.RotateBackward(l.x.Data, dxr.Data, rowsN, in, b, l.eff, dx.Data, perChunk)
	}
	tensor.Put(dxr)
	rows := l.Param.W.Shape[0]
	if l.Shared {
		l.gr = grow(l.gr, rows*bb)
		clear(l.gr)
	} else {
		l.gr = perChunk // each chunk's block is its own row: sum in place
	}
	gr := l.gr
	for i := 0; i < l.Blocks; i++ {
		if l.dropped != nil && l.dropped[i] {
			continue // the identity replaced this block: no gradient reaches Q
		}
		if !l.Shared {
			continue // already in place
		}
		kernels.Add(gr[:bb], perChunk[i*bb:(i+1)*bb]) // one shared block collects every chunk's gradient
	}
	if l.dropped != nil && !l.Shared {
		for i, d := range l.dropped {
			if d {
				clear(gr[i*bb : (i+1)*bb])
			}
		}
	}
	if src := l.origin; (src != nil && src.shareStep) || l.shareStep {
		// A shared step: summed here, taken through the Cayley backward
		// once by ShareStep(false).
		if !l.stepGradSet {
			l.stepGrad = grow(l.stepGrad, rows*bb)
			copy(l.stepGrad, gr)
			l.stepGradSet = true
		} else {
			kernels.Add(l.stepGrad, gr)
		}
		return dx
	}
	l.rotationBackward(l.curQ, l.curR, gr)
	return dx
}

// Merge folds the rotation into the base weight: W ← W·R_bdᵀ for
// nn.Linear, W ← R_bd·W for Conv1D.
func (l *Layer) Merge() error {
	if l.merged != nil {
		return nil
	}
	if l.Base().BF16() {
		return fmt.Errorf("%s: merge: %w", l.Base().Name, nn.ErrBF16)
	}
	r := l.Rotations()
	l.merged = append([]float32(nil), r...)
	l.rotateBase(l.merged)
	return l.checkFinite("merge")
}

// Unmerge multiplies the base weight by the exact inverse of the merged
// rotation (not its transpose, which differs for the Neumann series).
func (l *Layer) Unmerge() error {
	if l.merged == nil {
		return nil
	}
	b := l.BlockSize
	bb := b * b
	inv := make([]float32, len(l.merged))
	for i := 0; i < len(l.merged)/bb; i++ {
		if err := orth.Invert(l.merged[i*bb:(i+1)*bb], b, inv[i*bb:(i+1)*bb]); err != nil {
			return fmt.Errorf("%s: rotation block %d: %w", l.Param.Name, i, err)
		}
	}
	l.rotateBase(inv)
	l.merged = nil
	return l.checkFinite("unmerge")
}

func (l *Layer) rotateBase(blocks []float32) {
	w := l.Base().Weight.W
	if l.Base().Conv1D {
		orth.RotateWeightConv1D(w.Data, l.Base().In, l.Base().Out, l.BlockSize, blocks, l.Shared)
	} else {
		orth.RotateWeightLinear(w.Data, l.Base().Out, l.Base().In, l.BlockSize, blocks, l.Shared)
	}
}

func (l *Layer) checkFinite(op string) error {
	for _, v := range l.Base().Weight.W.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%s: %s produced non-finite weights; the adapter is broken", l.Base().Name, op)
		}
	}
	return nil
}

func grow(s []float32, n int) []float32 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float32, n)
}

// Release drops the input and the rotated input, and releases the base
// layer (nn.Releaser). The scratch for the blocks' gradients, the size of
// the parameters rather than of the activations, stays for the next
// backward pass.
func (l *Layer) Release() {
	l.x, l.xr = nil, nil // the block-gradient scratch is the parameters' size: kept
	l.Base().Release()
}

// ReplicaOn returns a replica of the layer over base, a replica of its
// base layer, for data-parallel training (see nn.Replicas): the same
// rotation parameters with a gradient buffer of its own. With block
// dropout the replica draws its masks from a generator of its own, seeded
// from this layer's at every step (ShareStep): each replica's rows get a
// mask of their own, as each micro-batch of an accumulated step does, and
// the layer's generator alone decides them, so a resumed run draws what
// an uninterrupted one would. A merged layer is not trained, so it refuses.
func (l *Layer) ReplicaOn(base *nn.Linear, r *nn.Replicas) (nn.Layer, error) {
	if l.merged != nil {
		return nil, fmt.Errorf("oft: the layer is merged into its base: no replicas")
	}
	origin := l
	if l.origin != nil {
		origin = l.origin
	}
	replica := &Layer{LayerCore: origin.ReplicaCore(base), Param: r.Param(l.Param), BlockSize: l.BlockSize, Blocks: l.Blocks,
		Shared: l.Shared, Cayley: l.Cayley, COFT: l.COFT, Eps: l.Eps, Dropout: l.Dropout, origin: origin}
	origin.made = append(origin.made, replica)
	return replica, nil
}

// DropReplicas forgets the replicas made from the layer
// (model.ReplicaOwner).
func (l *Layer) DropReplicas() {
	l.LayerCore.DropReplicas()
	l.made = nil
}

// Diagnostics reports the block size, the number of blocks (rows of
// oft_R.weight), block sharing, ‖Q‖_F of the stored skew parameters, the
// largest ‖RᵀR − I‖_F over the blocks (built with the layer's own Cayley
// parametrisation, after the COFT projection, as every forward does) and
// the COFT radius.
func (l *Layer) Diagnostics() []peft.Diagnostic {
	rows, b := l.Param.W.Shape[0], l.BlockSize
	blocks := "%d"
	if l.Shared {
		blocks = "%d (shared)"
	}
	out := []peft.Diagnostic{
		{Key: "block_size", Label: "block size", Value: b},
		{Key: "blocks", Label: "blocks", Value: rows, Format: blocks},
	}
	if l.Shared {
		out = append(out, peft.Diagnostic{Key: "block_share", Value: true})
	}
	q := orth.SkewNorm(l.Param.W.Data)
	rot := l.Rotations()
	worst := 0.0
	for i := range rows {
		worst = max(worst, orth.OrthogonalityError(rot[i*b*b:(i+1)*b*b], b))
	}
	out = append(out, peft.Diagnostic{Key: "q_frobenius_norm", Label: "‖Q‖_F", Value: q, Format: "%.4g"},
		peft.Diagnostic{Key: "orthogonality_error_max", Label: "max ‖RᵀR−I‖_F", Value: worst, Format: "%.2e"})
	if l.COFT {
		out = append(out, peft.Diagnostic{Key: "coft_radius", Label: "COFT radius", Value: l.Radius(), Format: "%.3g"})
	}
	return out
}
