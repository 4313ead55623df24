package nn

import (
	"fmt"
	"math"
	"slices"

	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/tensor"
)

// IgnoreIndex marks a target position that does not count towards the
// loss (the value transformers and PyTorch use).
const IgnoreIndex = -100

// ShiftedTargets returns next-token targets for labels laid out [batch][seq]:
// position t of a row is trained to predict labels[t+1]; the last position
// of every row, and any label equal to IgnoreIndex, is ignored. This is the
// shift transformers applies when labels = input_ids.
func ShiftedTargets(labels [][]int) []int {
	var out []int
	for _, row := range labels {
		for t := range row {
			if t+1 < len(row) {
				out = append(out, row[t+1])
			} else {
				out = append(out, IgnoreIndex)
			}
		}
	}
	return out
}

// CrossEntropy is the mean softmax cross-entropy of logits rows against
// integer targets, skipping IgnoreIndex. Log-sum-exp is accumulated in
// float64. Forward keeps the logits and targets, and leaves each counted
// row's exp(logits − max) in the gradient buffer with the reciprocal of its
// sum, so that Backward needs no exponentials of its own.
type CrossEntropy struct {
	logits  *tensor.Tensor
	targets []int
	count   int
	invSum  []float64 // per row: 1 / Σ exp(logits − max)
	losses  []float64
	grad    *tensor.Tensor // after Forward: exp(logits − max) per counted row
}

// Forward returns the mean loss over counted positions and how many there
// were. logits is [..., vocab] with one row per target. A target outside
// [0, vocab) that is not IgnoreIndex is an error.
func (c *CrossEntropy) Forward(logits *tensor.Tensor, targets []int) (float64, int, error) {
	n, v := rows(logits)
	if n != len(targets) {
		return 0, 0, fmt.Errorf("nn: cross-entropy over %d logit rows with %d targets", n, len(targets))
	}
	c.logits, c.targets, c.count = logits, targets, 0
	for i, t := range targets {
		if t == IgnoreIndex {
			continue
		}
		if t < 0 || t >= v {
			return 0, 0, fmt.Errorf("nn: cross-entropy target %d at position %d outside vocabulary [0, %d)", t, i, v)
		}
		c.count++
	}
	if c.count == 0 {
		return math.NaN(), 0, nil
	}
	c.invSum, c.losses = growF64(c.invSum, n), growF64(c.losses, n)
	c.grad = tensor.Reuse(c.grad, logits.Shape...)
	losses, invSum, e := c.losses, c.invSum, c.grad.Data
	kernels.ParallelFor(n, 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			losses[i] = 0
			if targets[i] == IgnoreIndex {
				continue
			}
			row := logits.Data[i*v : (i+1)*v]
			m := kernels.Max(row)
			sum := kernels.ExpSlice(e[i*v:(i+1)*v], row, -m)
			invSum[i] = 1 / sum
			// log Σ exp(x) = m + log Σ exp(x − m); an infinite or NaN
			// logit makes the loss NaN or infinite, as it should.
			losses[i] = float64(m) + math.Log(sum) - float64(row[targets[i]])
		}
	})
	var sum float64
	for _, l := range losses {
		sum += l
	}
	return sum / float64(c.count), c.count, nil
}

// Release drops the references to the last Forward's logits and targets,
// keeping the gradient buffer for the next Forward.
func (c *CrossEntropy) Release() { c.logits, c.targets = nil, nil }

// Backward returns dL/dlogits for L = scale · mean loss, once per Forward.
// The returned tensor is owned by c: the next Forward overwrites it.
func (c *CrossEntropy) Backward(scale float64) *tensor.Tensor {
	if c.grad == nil || !slices.Equal(c.grad.Shape, c.logits.Shape) {
		panic("nn: CrossEntropy.Backward without a Forward")
	}
	n, v := rows(c.logits)
	d := c.grad
	if c.count == 0 {
		clear(d.Data)
		return d
	}
	k := scale / float64(c.count)
	kernels.ParallelFor(n, 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			t := c.targets[i]
			dr := d.Data[i*v : (i+1)*v]
			if t == IgnoreIndex {
				clear(dr)
				continue
			}
			f := float32(k * c.invSum[i]) // k·softmax = k·exp(x − max)/sum
			for j := range dr {
				dr[j] *= f
			}
			dr[t] -= float32(k)
		}
	})
	return d
}
