package nn

import (
	"fmt"
	"math"

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
// float64. Forward keeps the logits and targets.
type CrossEntropy struct {
	logits  *tensor.Tensor
	targets []int
	count   int
	lse     []float64 // per row: log Σ exp(logits), for Backward
	losses  []float64
	grad    *tensor.Tensor
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
	c.lse, c.losses = growF64(c.lse, n), growF64(c.losses, n)
	losses, lse := c.losses, c.lse
	kernels.ParallelFor(n, 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			losses[i] = 0
			if targets[i] == IgnoreIndex {
				continue
			}
			row := logits.Data[i*v : (i+1)*v]
			lse[i] = logSumExp(row)
			losses[i] = lse[i] - float64(row[targets[i]])
		}
	})
	var sum float64
	for _, l := range losses {
		sum += l
	}
	return sum / float64(c.count), c.count, nil
}

// Backward returns dL/dlogits for L = scale · mean loss. The returned
// tensor is owned by c and reused by the next Backward.
func (c *CrossEntropy) Backward(scale float64) *tensor.Tensor {
	n, v := rows(c.logits)
	c.grad = tensor.Reuse(c.grad, c.logits.Shape...)
	d := c.grad
	if c.count == 0 {
		clear(d.Data)
		return d
	}
	k := scale / float64(c.count)
	kernels.ParallelFor(n, 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			t := c.targets[i]
			row, dr := c.logits.Data[i*v:(i+1)*v], d.Data[i*v:(i+1)*v]
			if t == IgnoreIndex {
				clear(dr)
				continue
			}
			if k > 0 { // k·softmax = exp(x − lse + log k): one exponential per logit
				kernels.ExpSlice(dr, row, float32(math.Log(k)-c.lse[i]))
			} else {
				kernels.ExpSlice(dr, row, float32(-c.lse[i]))
				for j := range dr {
					dr[j] *= float32(k)
				}
			}
			dr[t] -= float32(k)
		}
	})
	return d
}

// logSumExp returns log Σ exp(row) with the sum accumulated in float64.
func logSumExp(row []float32) float64 {
	m := float32(math.Inf(-1))
	for _, x := range row {
		m = max(m, x)
	}
	if math.IsInf(float64(m), 0) || m != m {
		return float64(m) // all −Inf, or an Inf/NaN logit: propagate
	}
	var s float64
	for _, x := range row {
		s += float64(kernels.Exp(x - m))
	}
	return float64(m) + math.Log(s)
}
