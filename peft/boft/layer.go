package boft

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

// Layer is a BOFT-adapted linear layer: y = base(x·M) with the output
// (less the bias) scaled by s, M the butterfly rotation of boft_R.
type Layer struct {
	peft.LayerCore
	R         *nn.Param // boft_R (factors, blocks, b, b): only its skew part is used
	S         *nn.Param // boft_s (out, 1)
	BlockSize int
	Blocks    int // D = in_features / BlockSize
	Factors   int // m, butterfly factors
	Dropout   float64

	bf *orth.Butterfly

	merged, mergedS []float32 // the blocks and scales a Merge applied, for Unmerge

	// origin is the layer a replica was made from (nil for the original);
	// shareStep, on the original, says its q and r hold this data-parallel
	// step's blocks, for it and its replicas to read.
	origin    *Layer
	shareStep bool

	// forward state
	q, r       []float32 // skew parts ½(A − Aᵀ) and their Cayley blocks, m·D·b·b
	curQ, curR []float32 // those the last Forward used: q and r, or the origin's
	eff        []float32 // the blocks the last Forward applied: r, or dropBuf
	dropBuf    []float32
	dropFactor int    // the factor dropout chose
	dropped    []bool // its dropped blocks; nil: none dropped
	dropMask   []bool // dropped's storage
	order      []int
	x          *tensor.Tensor
	trace      []float32 // Butterfly.Rotate's trace; stale when folded
	folded     bool      // the last Forward folded M into a scratch weight
	xr         *tensor.Tensor
	z          *tensor.Tensor // base output less bias, for boft_s's gradient

	gr, dq []float32
}

var _ peft.Layer = (*Layer)(nil)

// NewLayer wraps slot's base layer with a fresh BOFT layer: identity
// (boft_R = 0, boft_s = 1) with init_weights, else boft_R ~ N(0, 0.1),
// boft_s ~ N(1, 0.1) as PEFT does.
func (c *Config) NewLayer(slot *model.LinearSlot, rng *tensor.RNG) (peft.Layer, error) {
	b, d, err := c.resolve(slot.Name, slot.Base.In, c.Factors)
	if err != nil {
		return nil, err
	}
	r := tensor.New(c.Factors, d, b, b)
	s := tensor.New(slot.Base.Out, 1)
	if c.InitWeights {
		for i := range s.Data {
			s.Data[i] = 1
		}
	} else {
		rng.Normal(r, 0, 0.1)
		rng.Normal(s, 1, 0.1)
	}
	return c.newLayer(slot, r, s, uint64(rng.IntN(1<<62)))
}

// LoadLayer wraps slot's base layer with stored boft_R and boft_s. The
// number of butterfly factors is boft_R's first dimension, whatever the
// config says: PEFT without its CUDA extension silently trains one factor
// and still writes the configured number, so a disagreement is logged
// and the weights are followed. The block size and count must be those
// the config resolves for the layer, else the load is refused.
func (c *Config) LoadLayer(slot *model.LinearSlot, ts map[string]*tensor.Tensor) (peft.Layer, error) {
	r, s := ts["boft_R"], ts["boft_s"]
	name, in, out := slot.Name, slot.Base.In, slot.Base.Out
	if err := checkR(name, r); err != nil {
		return nil, err
	}
	m, d, b := r.Shape[0], r.Shape[1], r.Shape[2]
	if d*b != in {
		return nil, fmt.Errorf("layer %s: boft_R has shape %v: %d blocks of %d cover %d input features, the layer has %d (adapter made for a different model?)", name, r.Shape, d, b, d*b, in)
	}
	if len(s.Shape) != 2 || s.Shape[0] != out || s.Shape[1] != 1 {
		return nil, fmt.Errorf("layer %s: boft_s has shape %v, want [%d 1] for the layer's %d output features", name, s.Shape, out, out)
	}
	wantB, wantD, err := c.resolve(name, in, m)
	if err != nil {
		return nil, fmt.Errorf("boft_R has shape %v (%d butterfly factors): %w", r.Shape, m, err)
	}
	if wantB != b || wantD != d {
		setting := fmt.Sprintf("boft_block_size %d", c.BlockSize)
		if c.BlockSize == 0 {
			setting = fmt.Sprintf("boft_block_num %d", c.BlockNum)
		}
		return nil, fmt.Errorf("layer %s: boft_R has shape %v, %d blocks of %d, but the config's %s gives %d blocks of %d for the layer's %d input features: adapter_config.json does not match the weights", name, r.Shape, d, b, setting, wantD, wantB, in)
	}
	if m != c.Factors {
		slog.Warn(fmt.Sprintf("layer %s: boft_R holds %d butterfly factor(s) but adapter_config.json says boft_n_butterfly_factor %d (PEFT without its CUDA extension trains a single factor and keeps the configured number); using the %d factor(s) of the weights", name, m, c.Factors, m))
	}
	return c.newLayer(slot, r, s, nameSeed(name))
}

// nameSeed derives a dropout seed from a module name (FNV-1a).
func nameSeed(name string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	return h
}

func (c *Config) newLayer(slot *model.LinearSlot, r, s *tensor.Tensor, seed uint64) (*Layer, error) {
	m, b := r.Shape[0], r.Shape[2]
	bf, err := orth.NewButterfly(slot.Base.In, b, m)
	if err != nil {
		return nil, fmt.Errorf("layer %s: boft_R shape %v: %w", slot.Name, r.Shape, err)
	}
	return &Layer{
		LayerCore: peft.NewLayerCore(slot.Base, seed),
		R:         nn.NewParam(slot.Name+".boft_R", r),
		S:         nn.NewParam(slot.Name+".boft_s", s),
		BlockSize: b, Blocks: r.Shape[1], Factors: m, Dropout: c.Dropout, bf: bf,
	}, nil
}

// Tensors lists boft_R and boft_s.
func (l *Layer) Tensors() []peft.Tensor {
	return []peft.Tensor{{Suffix: "boft_R", Param: l.R}, {Suffix: "boft_s", Param: l.S}}
}

// Merged reports whether the adapter is folded into the base weight.
func (l *Layer) Merged() bool { return l.merged != nil }

// Describe summarises the layer, e.g. "8 blocks of 8, 2 butterfly
// factors, exact Cayley".
func (l *Layer) Describe() string {
	blocks := fmt.Sprintf("%d blocks of %d", l.Blocks, l.BlockSize)
	if l.Blocks == 1 {
		blocks = fmt.Sprintf("1 block of %d", l.BlockSize)
	}
	factors := fmt.Sprintf("%d butterfly factors", l.Factors)
	if l.Factors == 1 {
		factors = "1 butterfly factor"
	}
	return blocks + ", " + factors + ", exact Cayley"
}

// Butterfly returns the layer's butterfly structure.
func (l *Layer) Butterfly() *orth.Butterfly { return l.bf }

// Rotations computes every factor's Cayley blocks (I − S)(I + S)⁻¹ with
// S = ½(A − Aᵀ) for each b×b matrix A of boft_R, in boft_R's layout.
func (l *Layer) Rotations() []float32 {
	n := l.Factors * l.Blocks
	b := l.BlockSize
	bb := b * b
	if len(l.q) != n*bb {
		l.q, l.r = make([]float32, n*bb), make([]float32, n*bb)
	}
	a := l.R.W.Data
	for k := range n {
		src, dst := a[k*bb:(k+1)*bb], l.q[k*bb:(k+1)*bb]
		for i := range b {
			for j := range b {
				dst[i*b+j] = 0.5 * (src[i*b+j] - src[j*b+i])
			}
		}
	}
	orth.Cayley{Kind: orth.Exact}.Rotations(l.q, n, b, l.r)
	return l.r
}

// ShareStep(true) computes the blocks once for the data-parallel step
// about to run (see model.StepSharer), for the layer and its replicas to
// read; with dropout it also seeds each replica's generator from the
// layer's. ShareStep(false) ends the step, before the parameters change.
func (l *Layer) ShareStep(on bool) {
	if on {
		l.Rotations()
		if l.Training() && l.Dropout > 0 {
			l.SeedReplicas()
		}
	}
	l.shareStep = on
}

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

// dropout applies PEFT's MultiplicativeDropoutLayer in training: one
// factor chosen uniformly, and in it int(p·D) blocks chosen uniformly
// without replacement replaced by the identity.
func (l *Layer) dropout(r []float32) []float32 {
	l.dropped = nil
	if !l.Training() || l.Dropout <= 0 {
		return r
	}
	rng := l.RNG()
	l.dropFactor = rng.IntN(l.Factors)
	k := int(l.Dropout * float64(l.Blocks))
	if cap(l.order) < l.Blocks {
		l.order, l.dropMask = make([]int, l.Blocks), make([]bool, l.Blocks)
	}
	order := l.order[:l.Blocks]
	for i := range order {
		order[i] = i
	}
	for i := 0; i < k; i++ { // partial Fisher–Yates
		j := i + rng.IntN(l.Blocks-i)
		order[i], order[j] = order[j], order[i]
	}
	l.dropped = l.dropMask[:l.Blocks]
	clear(l.dropped)
	for _, d := range order[:k] {
		l.dropped[d] = true
	}
	l.dropBuf = grow(l.dropBuf, len(r))
	copy(l.dropBuf, r)
	b := l.BlockSize
	bb := b * b
	for d, drop := range l.dropped {
		if drop {
			blk := l.dropBuf[(l.dropFactor*l.Blocks+d)*bb:][:bb]
			clear(blk)
			for i := range b {
				blk[i*b+i] = 1
			}
		}
	}
	return l.dropBuf
}

// Forward rotates x through the butterfly factors, runs the base layer and
// scales its output (less the bias) by boft_s.
func (l *Layer) Forward(x *tensor.Tensor) *tensor.Tensor {
	blocks := l.dropout(l.stepRotations())
	l.eff = blocks
	base := l.Base()
	in, out := base.In, base.Out
	rows := x.Len() / in
	l.x = x
	var trace []float32
	if l.R.Grad != nil {
		l.trace = grow(l.trace, l.bf.TraceLen(rows))
		trace = l.trace
	}
	l.folded = false
	var y *tensor.Tensor
	switch {
	case base.Weight.Trainable(): // the base keeps its input for its weight gradient
		l.xr = tensor.Reuse(l.xr, x.Shape...)
		l.bf.Rotate(x.Data, rows, blocks, l.xr.Data, trace)
		y = base.Forward(l.xr)
	case rows > l.Factors*out:
		// A frozen base keeps no input, so M may go either side of the
		// product: x·M·Wᵀ = x·(W·Mᵀ)ᵀ. Rotating the weight costs
		// m·out·in·b against m·rows·in·b for the input (plus the trace,
		// recomputed by Backward), so a batch with more rows than m times
		// the outputs folds M into a scratch copy of the weight.
		l.folded = true
		buf := tensor.Get(2 * in * out)
		defer tensor.Put(buf)
		w, weff := base.Weight.W.Data, buf.Data[in*out:]
		if base.BF16() {
			w = buf.Data[:in*out]
			base.WeightInto(w)
		}
		if base.Conv1D {
			l.bf.Conv1DWeight(w, out, blocks, weff)
		} else {
			l.bf.LinearWeight(w, out, blocks, weff)
		}
		y = base.ForwardWith(x, weff)
	default:
		xr := tensor.Get(x.Shape...)
		defer tensor.Put(xr)
		l.bf.Rotate(x.Data, rows, blocks, xr.Data, trace)
		y = base.Forward(xr)
	}
	l.scale(y, rows)
	return y
}

// scale sets y ← (y − bias)·s + bias in place, keeping y − bias for
// boft_s's gradient when it is trainable.
func (l *Layer) scale(y *tensor.Tensor, rows int) {
	out := l.Base().Out
	s := l.S.W.Data
	var bias []float32
	if l.Base().Bias != nil {
		bias = l.Base().Bias.W.Data
	}
	var z []float32
	if l.S.Grad != nil {
		l.z = tensor.Reuse(l.z, rows, out)
		z = l.z.Data
	}
	for r := range rows {
		row := y.Data[r*out : (r+1)*out]
		for j, v := range row {
			if bias != nil {
				v -= bias[j]
			}
			if z != nil {
				z[r*out+j] = v
			}
			v *= s[j]
			if bias != nil {
				v += bias[j]
			}
			row[j] = v
		}
	}
}

// Backward returns dL/dx and accumulates dL/d(boft_R) and dL/d(boft_s)
// when trainable.
func (l *Layer) Backward(dy *tensor.Tensor) *tensor.Tensor {
	base := l.Base()
	in, out := base.In, base.Out
	rows := dy.Len() / out
	s := l.S.W.Data
	dyb := tensor.Get(dy.Shape...)
	sg := l.S.Grad
	for r := range rows { // dL/d(base output) = dy·s, and dL/ds, in one pass
		d, db := dy.Data[r*out:(r+1)*out], dyb.Data[r*out:(r+1)*out]
		if sg != nil {
			z, gs := l.z.Data[r*out:(r+1)*out], sg.Data[:out]
			for j, v := range d {
				db[j] = v * s[j]
				gs[j] += v * z[j]
			}
			continue
		}
		for j, v := range d {
			db[j] = v * s[j]
		}
	}
	dxr := base.Backward(dyb)
	if base.Bias != nil && base.Bias.Grad != nil {
		// The bias is not scaled: its gradient is dy's, not dy·s's.
		bg := base.Bias.Grad.Data
		for r := range rows {
			for j := range out {
				bg[j] += dy.Data[r*out+j] - dyb.Data[r*out+j]
			}
		}
	}
	tensor.Put(dyb)
	dx := tensor.Get(dxr.Shape...)
	g := l.R.Grad
	if g == nil {
		l.bf.RotateT(dxr.Data, rows, l.eff, dx.Data)
		tensor.Put(dxr)
		return dx
	}
	if l.folded && l.bf.TraceLen(rows) > 0 { // the trace was not kept: recompute it
		tmp := tensor.Get(rows, in)
		l.bf.Rotate(l.x.Data, rows, l.eff, tmp.Data, l.trace)
		tensor.Put(tmp)
	}
	b := l.BlockSize
	bb := b * b
	n := l.Factors * l.Blocks
	l.gr = grow(l.gr, n*bb)
	clear(l.gr)
	l.bf.Backward(l.x.Data, l.trace, dxr.Data, rows, l.eff, dx.Data, l.gr)
	tensor.Put(dxr)
	for d, drop := range l.dropped {
		if drop { // the identity replaced this block: no gradient reaches A
			clear(l.gr[(l.dropFactor*l.Blocks+d)*bb:][:bb])
		}
	}
	l.dq = grow(l.dq, n*bb)
	orth.Cayley{Kind: orth.Exact}.Backwards(l.curQ, l.curR, l.gr, n, b, l.dq)
	for k := range n { // S = ½(A − Aᵀ): dA = ½(dS − dSᵀ)
		dq, ga := l.dq[k*bb:(k+1)*bb], g.Data[k*bb:(k+1)*bb]
		for i := range b {
			for j := range b {
				ga[i*b+j] += 0.5 * (dq[i*b+j] - dq[j*b+i])
			}
		}
	}
	return dx
}

// Merge folds the adapter into the base weight: W ← diag(s)·W·Mᵀ for
// nn.Linear (PEFT's ((M·Wᵀ)ᵀ)·boft_s), W ← M·W·diag(s) for Conv1D.
func (l *Layer) Merge() error {
	if l.merged != nil {
		return nil
	}
	base := l.Base()
	if base.BF16() {
		return fmt.Errorf("%s: merge: %w", base.Name, nn.ErrBF16)
	}
	r := l.Rotations()
	l.merged = append([]float32(nil), r...)
	l.mergedS = append([]float32(nil), l.S.W.Data...)
	w := base.Weight.W.Data
	src := append([]float32(nil), w...)
	in, out := base.In, base.Out
	if base.Conv1D {
		l.bf.Conv1DWeight(src, out, l.merged, w)
		for i := range in {
			for j := range out {
				w[i*out+j] *= l.mergedS[j]
			}
		}
	} else {
		l.bf.LinearWeight(src, out, l.merged, w)
		for j := range out {
			for k := range in {
				w[j*in+k] *= l.mergedS[j]
			}
		}
	}
	return l.checkFinite("merge")
}

// Unmerge restores the base weight with the exact inverse of what Merge
// applied: W ← diag(1/s)·W′·M⁻ᵀ (Conv1D: M⁻¹·W′·diag(1/s)), M⁻ᵀ built
// from the inverted blocks rather than taken as M (equal only up to
// rounding).
func (l *Layer) Unmerge() error {
	if l.merged == nil {
		return nil
	}
	b := l.BlockSize
	bb := b * b
	invT := make([]float32, len(l.merged))
	tmp := make([]float32, bb)
	for k := range len(l.merged) / bb {
		if err := orth.Invert(l.merged[k*bb:(k+1)*bb], b, tmp); err != nil {
			return fmt.Errorf("%s: rotation block %d: %w", l.R.Name, k, err)
		}
		for i := range b {
			for j := range b {
				invT[k*bb+j*b+i] = tmp[i*b+j]
			}
		}
	}
	base := l.Base()
	w := base.Weight.W.Data
	in, out := base.In, base.Out
	s := l.mergedS
	if base.Conv1D { // M⁻¹·W′ = (W′ᵀ·M⁻ᵀ)ᵀ
		wt := make([]float32, 2*in*out)
		transpose(wt[:in*out], w, in, out)
		l.bf.Rotate(wt[:in*out], out, invT, wt[in*out:], nil)
		transpose(w, wt[in*out:], out, in)
		for i := range in {
			for j := range out {
				w[i*out+j] /= s[j]
			}
		}
	} else {
		src := append([]float32(nil), w...)
		l.bf.Rotate(src, out, invT, w, nil)
		for j := range out {
			for k := range in {
				w[j*in+k] /= s[j]
			}
		}
	}
	l.merged, l.mergedS = nil, nil
	return l.checkFinite("unmerge")
}

// transpose sets dst (c×r) = srcᵀ for an r×c matrix src.
func transpose(dst, src []float32, r, c int) {
	for i := range r {
		for j := range c {
			dst[j*r+i] = src[i*c+j]
		}
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

// Release drops the input, the trace and the kept activations, and
// releases the base layer (nn.Releaser).
func (l *Layer) Release() {
	l.x, l.xr, l.z, l.trace = nil, nil, nil, nil
	l.Base().Release()
}

// ReplicaOn returns a replica of the layer over base, a replica of its
// base layer, for data-parallel training (see nn.Replicas): the same
// parameters with gradient buffers of its own, reading the blocks the
// layer computes once per step (ShareStep). With dropout the replica
// draws from a generator of its own, seeded from this layer's at every
// step. A merged layer is not trained, so it refuses.
func (l *Layer) ReplicaOn(base *nn.Linear, r *nn.Replicas) (nn.Layer, error) {
	if l.merged != nil {
		return nil, fmt.Errorf("boft: the layer is merged into its base: no replicas")
	}
	origin := l
	if l.origin != nil {
		origin = l.origin
	}
	return &Layer{LayerCore: origin.ReplicaCore(base), R: r.Param(l.R), S: r.Param(l.S), BlockSize: l.BlockSize,
		Blocks: l.Blocks, Factors: l.Factors, Dropout: l.Dropout, bf: l.bf, origin: origin}, nil
}

// Diagnostics reports the block size, the number of blocks, the butterfly
// factors, ‖MᵀM − I‖_F of the full rotation M (float64, from the float32
// Cayley blocks: 2·m·in²·b products), the sign of det M and the range of
// boft_s.
func (l *Layer) Diagnostics() []peft.Diagnostic {
	rot := l.Rotations()
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range l.S.W.Data {
		lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
	}
	return []peft.Diagnostic{
		{Key: "block_size", Label: "block size", Value: l.BlockSize},
		{Key: "blocks", Label: "blocks", Value: l.Blocks},
		{Key: "butterfly_factors", Label: "factors", Value: l.Factors},
		{Key: "orthogonality_error", Label: "‖MᵀM−I‖_F", Value: l.bf.OrthogonalityError(rot), Format: "%.2e"},
		{Key: "det_sign", Label: "det sign", Value: l.bf.DeterminantSign(rot)},
		{Key: "scale_min", Label: "min s", Value: lo, Format: "%.4g"},
		{Key: "scale_max", Label: "max s", Value: hi, Format: "%.4g"},
	}
}
