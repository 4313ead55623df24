package nn

import (
	"fmt"

	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/tensor"
)

// Embedding looks up rows of a (vocab, dim) table. Forward keeps the ids.
type Embedding struct {
	Weight *Param
	ids    []int
	y      *tensor.Tensor // the output, reused by the next Forward
}

// NewEmbedding wraps a (vocab, dim) table.
func NewEmbedding(name string, table *tensor.Tensor) (*Embedding, error) {
	if len(table.Shape) != 2 {
		return nil, fmt.Errorf("nn: %s: want 2 dimensions, got shape %v", name, table.Shape)
	}
	return &Embedding{Weight: NewParam(name, table)}, nil
}

// Vocab returns the number of rows.
func (e *Embedding) Vocab() int { return e.Weight.W.Shape[0] }

// Dim returns the embedding width.
func (e *Embedding) Dim() int { return e.Weight.W.Shape[1] }

// Forward returns rows ids[i] stacked as [len(ids), dim], in the layer's
// output buffer: valid until its next Forward, which reuses it (callers
// may modify it in place meanwhile). Ids must be in range; callers
// validate user input before this point. With no ids it returns an empty
// tensor and keeps no ids, so that Backward scatters nothing.
func (e *Embedding) Forward(ids []int) *tensor.Tensor {
	d := e.Dim()
	if len(ids) == 0 {
		e.ids = nil
		return tensor.New(0, d)
	}
	e.y = tensor.Reuse(e.y, len(ids), d)
	out := e.y
	for i, id := range ids {
		if id < 0 || id >= e.Vocab() {
			panic(fmt.Sprintf("nn: %s: id %d out of range [0, %d)", e.Weight.Name, id, e.Vocab()))
		}
		copy(out.Data[i*d:(i+1)*d], e.Weight.W.Data[id*d:(id+1)*d])
	}
	e.ids = ids
	return out
}

// Backward scatters dy rows into the table's gradient when trainable. The
// input (ids) has no gradient.
func (e *Embedding) Backward(dy *tensor.Tensor) {
	g := e.Weight.Grad
	if g == nil {
		return
	}
	d := e.Dim()
	for i, id := range e.ids {
		kernels.Add(g.Data[id*d:(id+1)*d], dy.Data[i*d:(i+1)*d])
	}
}
