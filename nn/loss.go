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
	losses := make([]float64, n)
	kernels.ParallelFor(n, 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if targets[i] == IgnoreIndex {
				continue
			}
			row := logits.Data[i*v : (i+1)*v]
			losses[i] = logSumExp(row) - float64(row[targets[i]])
		}
	})
	var sum float64
	for _, l := range losses {
		sum += l
	}
	return sum / float64(c.count), c.count, nil
}

// Backward returns dL/dlogits for L = scale · mean loss.
func (c *CrossEntropy) Backward(scale float64) *tensor.Tensor {
	n, v := rows(c.logits)
	d := tensor.New(c.logits.Shape...)
	if c.count == 0 {
		return d
	}
	k := scale / float64(c.count)
	kernels.ParallelFor(n, 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			t := c.targets[i]
			if t == IgnoreIndex {
				continue
			}
			row, dr := c.logits.Data[i*v:(i+1)*v], d.Data[i*v:(i+1)*v]
			lse := logSumExp(row)
			for j, x := range row {
				dr[j] = float32(k * math.Exp(float64(x)-lse))
			}
			dr[t] -= float32(k)
		}
	})
	return d
}

func logSumExp(row []float32) float64 {
	m := math.Inf(-1)
	for _, x := range row {
		m = max(m, float64(x))
	}
	var s float64
	for _, x := range row {
		s += math.Exp(float64(x) - m)
	}
	return m + math.Log(s)
}
