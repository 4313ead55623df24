package model

import (
	"fmt"

	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

// LossModel is implemented by models that can run their output head and
// the next-token cross-entropy together, a chunk of rows at a time, so that
// a whole batch's logits never exist at once: with a vocabulary of 49,152,
// 4,096 rows of logits take 805 MB, and the loss's gradient as much again.
// Training uses it where it can; Forward and Backward remain for
// everything that needs the logits.
type LossModel interface {
	// ForwardLoss runs the model on ids, then for each chunk of rows the
	// head, the cross-entropy against targets (one per row, as for
	// Forward's logits; nn.IgnoreIndex to skip) and the head's backward
	// pass, for the loss Σ rowScale·loss over the counted rows. It returns
	// the sum of the counted rows' losses and their count. When the count
	// is positive, BackwardLoss must follow.
	ForwardLoss(ids [][]int, targets []int, rowScale float64, ce *nn.CrossEntropy) (lossSum float64, n int, err error)
	// BackwardLoss finishes the backward pass ForwardLoss began and returns
	// dL/d(input embeddings) [batch, seq, hidden], from tensor.Get.
	BackwardLoss() *tensor.Tensor
}

// LossChunkFloats bounds the logits (rows × vocabulary) a chunk of
// ForwardLoss holds: 8 Mi floats (32 MiB, as much again for the loss's
// gradient), at least one row. Lower saves memory, higher makes fewer,
// larger products.
var LossChunkFloats = 8 << 20

// HeadLoss runs head over the rows of h (rows × in) chunk by chunk,
// the cross-entropy of each chunk's logits (vocab wide) against its
// targets, and the head's backward pass for Σ rowScale·loss, writing
// dL/dh into dh (rows × in; rows whose targets are all ignored get zeros).
// It returns the sum of the counted rows' losses and their count: the
// building block of ForwardLoss. head's Forward must return a tensor the
// caller owns (nn.Linear.FreshOutput, as output heads have), which is
// given back to tensor's pool after each chunk.
func HeadLoss(head nn.Layer, h *tensor.Tensor, vocab int, targets []int, rowScale float64, ce *nn.CrossEntropy, dh *tensor.Tensor) (float64, int, error) {
	rows, in := h.Dim(0), h.Dim(1)
	if len(targets) != rows || dh.Len() != rows*in {
		return 0, 0, fmt.Errorf("model: head loss over %d rows with %d targets and a %v gradient", rows, len(targets), dh.Shape)
	}
	// As few chunks as the bound allows, of sizes that differ by one row at
	// most: a chunk's product costs mostly packing the head's weight, once
	// per chunk whatever its rows, so a short last chunk would cost nearly
	// as much as a full one (and one of 512 rows cut at 170 kept its
	// pooled buffers of two sizes: 270 MiB more resident on SmolLM2's
	// shape).
	chunk := max(1, LossChunkFloats/max(vocab, 1))
	chunks := (rows + chunk - 1) / chunk
	var lossSum float64
	n := 0
	for c := range chunks {
		r0, r1 := c*rows/chunks, (c+1)*rows/chunks
		hc := &tensor.Tensor{Shape: []int{r1 - r0, in}, Data: h.Data[r0*in : r1*in]}
		logits := head.Forward(hc)
		loss, nc, err := ce.Forward(logits, targets[r0:r1])
		if err != nil {
			tensor.Put(logits)
			return 0, 0, err
		}
		if nc == 0 {
			tensor.Put(logits)
			clear(dh.Data[r0*in : r1*in])
			continue
		}
		lossSum += loss * float64(nc)
		n += nc
		dhc := head.Backward(ce.Backward(float64(nc) * rowScale))
		copy(dh.Data[r0*in:r1*in], dhc.Data)
		tensor.Put(dhc, logits)
	}
	return lossSum, n, nil
}

// HeadLossPass holds what a model's ForwardLoss leaves for its
// BackwardLoss: dL/d(head input). Models embed one.
type HeadLossPass struct {
	dhead *tensor.Tensor
}

// Run runs HeadLoss over h into a gradient of its own, kept for Take when
// targets were counted.
func (p *HeadLossPass) Run(head nn.Layer, h *tensor.Tensor, vocab int, targets []int, rowScale float64, ce *nn.CrossEntropy) (float64, int, error) {
	d := tensor.Get(h.Shape...)
	loss, n, err := HeadLoss(head, h, vocab, targets, rowScale, ce, d)
	if err != nil || n == 0 {
		tensor.Put(d)
		return loss, n, err
	}
	p.dhead = d
	return loss, n, nil
}

// Take returns the kept dL/d(head input), the caller's to give back, and
// forgets it; it panics when Run kept none (no ForwardLoss, or one that
// counted no target).
func (p *HeadLossPass) Take() *tensor.Tensor {
	d := p.dhead
	if d == nil {
		panic("model: BackwardLoss without a ForwardLoss that counted targets")
	}
	p.dhead = nil
	return d
}
