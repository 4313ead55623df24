package nn

import "github.com/orthotune/orthotune/tensor"

// Param is a named weight. Grad is nil while the weight is frozen; a
// trainable weight owns a gradient buffer of the same shape that Backward
// calls add into.
type Param struct {
	Name string
	W    *tensor.Tensor
	Grad *tensor.Tensor
}

// NewParam returns a frozen parameter.
func NewParam(name string, w *tensor.Tensor) *Param { return &Param{Name: name, W: w} }

// Trainable reports whether the parameter receives gradients.
func (p *Param) Trainable() bool { return p.Grad != nil }

// SetTrainable allocates (true) or drops (false) the gradient buffer.
func (p *Param) SetTrainable(on bool) {
	switch {
	case on && p.Grad == nil:
		p.Grad = tensor.New(p.W.Shape...)
	case !on:
		p.Grad = nil
	}
}

// ZeroGrad clears the gradient buffer of a trainable parameter.
func (p *Param) ZeroGrad() {
	if p.Grad != nil {
		p.Grad.Zero()
	}
}

// Layer is a differentiable map over the last axis of its input: the shape
// of everything that the model routes through a named linear layer, and
// what an adapter wraps.
type Layer interface {
	// Forward maps x [..., in] to y [..., out], keeping what Backward needs.
	Forward(x *tensor.Tensor) *tensor.Tensor
	// Backward takes dL/dy for the last Forward and returns dL/dx,
	// accumulating into trainable parameters' gradients. The caller owns
	// dL/dx; layers take it from tensor.Get, and a caller that is done with
	// it may give it back with tensor.Put.
	Backward(dy *tensor.Tensor) *tensor.Tensor
}

// Releaser is implemented by layers that keep activations for Backward.
// Release drops them (and any buffers the layer reuses between steps) so
// that the garbage collector can take them; the next Forward makes them
// again. Gradient checkpointing releases a block after its forward and
// recomputes it before its backward.
type Releaser interface {
	Release()
}

// Release calls Release on every layer that implements Releaser.
func Release(layers ...any) {
	for _, l := range layers {
		if r, ok := l.(Releaser); ok {
			r.Release()
		}
	}
}

// rows splits a tensor's shape into (leading rows, last-axis width).
func rows(t *tensor.Tensor) (int, int) {
	w := t.Dim(-1)
	if w == 0 {
		return 0, 0
	}
	return len(t.Data) / w, w
}

// withLastDim returns shape with its last axis replaced by d.
func withLastDim(shape []int, d int) []int {
	out := append([]int(nil), shape...)
	out[len(out)-1] = d
	return out
}
