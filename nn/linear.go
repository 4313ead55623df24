package nn

import (
	"errors"
	"fmt"

	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/tensor"
)

// Linear is an affine layer y = x·Wᵀ + b over the last axis. Its weight is
// stored as in the checkpoint: (out, in) for torch.nn.Linear, or (in, out)
// when Conv1D is set (GPT-2's transformers Conv1D, PEFT's fan_in_fan_out),
// which computes y = x·W + b.
//
// Forward keeps a reference to x while the weight is trainable; Backward
// needs it only for the weight gradient.
//
// The layer reuses its output from one Forward to the next (the next layer
// keeps it for its own backward anyway), so that training steps do not
// allocate it: a result is valid until the layer's next Forward. A layer
// whose output callers keep (a model's output head, which produces the
// logits) sets FreshOutput.
type Linear struct {
	Name    string // module path in the checkpoint, e.g. "model.layers.0.self_attn.q_proj"
	In, Out int
	Conv1D  bool
	Weight  *Param
	Bias    *Param // nil when the layer has no bias

	// FreshOutput makes Forward return a new tensor (from tensor.Get) on
	// every call, which the caller owns.
	FreshOutput bool

	x    *tensor.Tensor
	y    *tensor.Tensor // the reused output
	bf16 []uint16       // the weight in bfloat16 after StoreBF16; Weight.W.Data is then nil
}

// ErrBF16 is returned (wrapped) by operations that need a float32 weight
// from a layer whose weight is held in bfloat16.
var ErrBF16 = errors.New("the base weight is held in bfloat16 (base_dtype bf16); this needs float32 weights")

// StoreBF16 keeps the frozen weight in bfloat16 from now on, halving its
// memory: Weight.W keeps its shape but its Data becomes nil, and Forward and
// Backward widen it to float32 one product at a time (kernels.GemmBF16).
// Values are rounded to nearest even; a checkpoint stored in BF16 loses
// nothing. A trainable weight cannot be stored so.
func (l *Linear) StoreBF16() error {
	if l.bf16 != nil {
		return nil
	}
	if l.Weight.Trainable() {
		return fmt.Errorf("nn: %s: a trainable weight cannot be held in bfloat16", l.Name)
	}
	w := l.Weight.W
	l.bf16 = make([]uint16, len(w.Data))
	for i, v := range w.Data {
		l.bf16[i] = tensor.F32ToBF16(v)
	}
	l.Weight.W = &tensor.Tensor{Shape: w.Shape}
	return nil
}

// BF16 reports whether the weight is held in bfloat16.
func (l *Linear) BF16() bool { return l.bf16 != nil }

// gemmWeight is Gemm with a weight as B: w when given (ForwardWith),
// else the layer's own, from float32 or bfloat16 storage.
func (l *Linear) gemmWeight(w []float32, transB bool, m, n, k int, a []float32, lda int, ldb int, beta float32, c []float32, ldc int) {
	switch {
	case w != nil:
		kernels.Gemm(false, transB, m, n, k, 1, a, lda, w, ldb, beta, c, ldc)
	case l.bf16 != nil:
		kernels.GemmBF16(false, transB, m, n, k, 1, a, lda, l.bf16, ldb, beta, c, ldc)
	default:
		kernels.Gemm(false, transB, m, n, k, 1, a, lda, l.Weight.W.Data, ldb, beta, c, ldc)
	}
}

// NewLinear builds a Linear around checkpoint tensors, checking shapes. bias
// may be nil.
func NewLinear(name string, weight, bias *tensor.Tensor, conv1D bool) (*Linear, error) {
	if len(weight.Shape) != 2 {
		return nil, fmt.Errorf("nn: %s.weight: want 2 dimensions, got shape %v", name, weight.Shape)
	}
	out, in := weight.Shape[0], weight.Shape[1]
	if conv1D {
		in, out = out, in
	}
	l := &Linear{Name: name, In: in, Out: out, Conv1D: conv1D, Weight: NewParam(name+".weight", weight)}
	if bias != nil {
		if len(bias.Shape) != 1 || bias.Shape[0] != out {
			return nil, fmt.Errorf("nn: %s.bias: want shape [%d], got %v", name, out, bias.Shape)
		}
		l.Bias = NewParam(name+".bias", bias)
	}
	return l, nil
}

// Forward computes y = x·Wᵀ + b for x [..., In].
func (l *Linear) Forward(x *tensor.Tensor) *tensor.Tensor { return l.forward(x, nil) }

// ForwardWith computes the layer's output with w, laid out as the layer's
// weight and in float32, in place of that weight: an adapter that folds
// itself into the weight for one pass (OFT, when the batch has more rows
// than the layer has outputs) uses it. The layer must be frozen; Backward
// still differentiates through the layer's own weight.
func (l *Linear) ForwardWith(x *tensor.Tensor, w []float32) *tensor.Tensor {
	if l.Weight.Trainable() {
		panic(fmt.Sprintf("nn: %s: ForwardWith on a trainable layer", l.Name))
	}
	if len(w) != l.In*l.Out {
		panic(fmt.Sprintf("nn: %s: ForwardWith weight has %d values, want %d", l.Name, len(w), l.In*l.Out))
	}
	return l.forward(x, w)
}

// WeightInto copies the weight, as stored (widened from bfloat16 if so
// held), into dst, which must hold In·Out values.
func (l *Linear) WeightInto(dst []float32) {
	if l.bf16 != nil {
		for i, h := range l.bf16 {
			dst[i] = tensor.BF16ToF32(h)
		}
		return
	}
	copy(dst[:l.In*l.Out], l.Weight.W.Data)
}

// forward is Forward with w (nil: the layer's own weight).
func (l *Linear) forward(x *tensor.Tensor, w []float32) *tensor.Tensor {
	n, in := rows(x)
	if in != l.In {
		panic(fmt.Sprintf("nn: %s: input width %d, layer expects %d", l.Name, in, l.In))
	}
	l.x = nil
	if l.Weight.Grad != nil {
		l.x = x
	}
	var y *tensor.Tensor
	if l.FreshOutput { // every element is written below
		y = tensor.Get(withLastDim(x.Shape, l.Out)...)
	} else {
		l.y = tensor.Reuse(l.y, withLastDim(x.Shape, l.Out)...)
		y = l.y
	}
	beta := float32(0)
	if l.Bias != nil {
		b := l.Bias.W.Data
		for r := 0; r < n; r++ {
			copy(y.Data[r*l.Out:(r+1)*l.Out], b)
		}
		beta = 1
	}
	if l.Conv1D {
		l.gemmWeight(w, false, n, l.Out, l.In, x.Data, l.In, l.Out, beta, y.Data, l.Out)
	} else {
		l.gemmWeight(w, true, n, l.Out, l.In, x.Data, l.In, l.In, beta, y.Data, l.Out)
	}
	return y
}

// Backward returns dL/dx and accumulates dL/dW and dL/db when trainable.
func (l *Linear) Backward(dy *tensor.Tensor) *tensor.Tensor {
	n, _ := rows(dy)
	// Input gradients live only until the layer below has used them: they
	// come from tensor's pool (beta = 0 overwrites every element), and
	// callers give them back.
	dx := tensor.Get(withLastDim(dy.Shape, l.In)...)
	if l.Conv1D {
		l.gemmWeight(nil, true, n, l.In, l.Out, dy.Data, l.Out, l.Out, 0, dx.Data, l.In)
	} else {
		l.gemmWeight(nil, false, n, l.In, l.Out, dy.Data, l.Out, l.In, 0, dx.Data, l.In)
	}
	if g := l.Weight.Grad; g != nil {
		if l.Conv1D { // dW (in,out) += xᵀ·dy
			kernels.Gemm(true, false, l.In, l.Out, n, 1, l.x.Data, l.In, dy.Data, l.Out, 1, g.Data, l.Out)
		} else { // dW (out,in) += dyᵀ·x
			kernels.Gemm(true, false, l.Out, l.In, n, 1, dy.Data, l.Out, l.x.Data, l.In, 1, g.Data, l.In)
		}
	}
	if l.Bias != nil && l.Bias.Grad != nil {
		addColumnSums(l.Bias.Grad.Data, dy.Data, n, l.Out)
	}
	return dx
}

// addColumnSums adds the column sums of the n×w matrix m to dst.
func addColumnSums(dst, m []float32, n, w int) {
	for r := 0; r < n; r++ {
		kernels.Add(dst[:w], m[r*w:(r+1)*w])
	}
}

// NeuronRows returns the weight as (out, in) rows, one per output neuron:
// the weight itself for nn.Linear, a transposed copy for Conv1D. Diagnostics
// over neurons (hyperspherical energy) read it.
func (l *Linear) NeuronRows() []float32 {
	w := l.Weight.W.Data
	if l.bf16 != nil {
		w = make([]float32, len(l.bf16))
		for i, h := range l.bf16 {
			w[i] = tensor.BF16ToF32(h)
		}
		if !l.Conv1D {
			return w
		}
	}
	if !l.Conv1D {
		return w
	}
	t := make([]float32, len(w))
	for i := 0; i < l.In; i++ {
		for o := 0; o < l.Out; o++ {
			t[o*l.In+i] = w[i*l.Out+o]
		}
	}
	return t
}
