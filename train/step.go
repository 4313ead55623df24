package train

import (
	"errors"
	"math"
	"sync"

	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

// StepResult is what one optimizer step saw.
type StepResult struct {
	Loss     float64 // mean next-token loss over every target token of the step
	GradNorm float64 // global gradient norm before clipping
	Targets  int     // target tokens
	Tokens   int     // input tokens, padding excluded
}

// Step runs one optimizer update of the parameters opt holds: forward and
// backward over every batch (gradient accumulation, each batch weighted by
// its share of the step's target tokens), clipping to maxGradNorm, then
// AdamW at learning rate lr. A NaN or infinite loss or gradient norm
// returns a *NonFiniteError before anything is updated; a step whose
// labels are all masked is refused before anything runs.
func Step(m model.CausalLM, opt *AdamW, batches []data.Batch, lr, maxGradNorm float64) (StepResult, error) {
	shares, res, err := splitRows(batches, 1)
	if err != nil {
		return res, err
	}
	opt.ZeroGrad()
	lossSum, err := forwardBackward(m, shares[0].batches, shares[0].targets, res.Targets)
	if err != nil {
		return res, err
	}
	return res, update(opt, &res, lossSum, lr, maxGradNorm)
}

// update finishes a step whose gradients are in place: the mean loss is
// checked, the gradients clipped to maxGradNorm and AdamW applied at lr.
func update(opt *AdamW, res *StepResult, lossSum, lr, maxGradNorm float64) error {
	res.Loss = lossSum / float64(res.Targets)
	if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
		return &NonFiniteError{What: "loss", Value: res.Loss}
	}
	res.GradNorm = ClipGradNorm(opt.params, maxGradNorm)
	if math.IsNaN(res.GradNorm) || math.IsInf(res.GradNorm, 0) {
		return &NonFiniteError{What: "gradient norm", Value: res.GradNorm}
	}
	opt.Step(lr)
	return nil
}

// rowShare is one model's part of a step: the rows it runs of each batch,
// their targets, and what it saw.
type rowShare struct {
	batches []data.Batch
	targets [][]int
	lossSum float64
	err     error
}

// splitRows splits every batch's rows evenly among n models in order
// (share i gets rows [i·rows/n, (i+1)·rows/n)) and counts the step's
// target and input tokens.
func splitRows(batches []data.Batch, n int) ([]rowShare, StepResult, error) {
	var res StepResult
	shares := make([]rowShare, n)
	for _, b := range batches {
		res.Tokens += b.Tokens
		rows := len(b.InputIDs)
		for i := range shares {
			lo, hi := rows*i/n, rows*(i+1)/n
			if lo == hi {
				continue
			}
			part := data.Batch{InputIDs: b.InputIDs[lo:hi]}
			if len(b.Labels) >= hi {
				part.Labels = b.Labels[lo:hi]
			}
			targets := part.Targets()
			for _, y := range targets {
				if y != data.IgnoreIndex {
					res.Targets++
				}
			}
			shares[i].batches = append(shares[i].batches, part)
			shares[i].targets = append(shares[i].targets, targets)
		}
	}
	if res.Targets == 0 {
		return nil, res, errors.New("no target tokens (every label is masked): check the prompt and completion lengths against max_seq_length")
	}
	return shares, res, nil
}

// forwardBackward runs m forward and backward over batches, each weighted
// by its share of the step's targets, accumulating into the gradients,
// and returns the sum of their losses times their target counts.
func forwardBackward(m model.CausalLM, batches []data.Batch, targets [][]int, stepTargets int) (float64, error) {
	ce := cePool.Get().(*nn.CrossEntropy)
	defer func() {
		ce.Release()
		cePool.Put(ce)
	}()
	var lossSum float64
	if lm, ok := m.(model.LossModel); ok { // the head and the loss by chunks of rows
		for i, b := range batches {
			sum, n, err := lm.ForwardLoss(b.InputIDs, targets[i], 1/float64(stepTargets), ce)
			if err != nil {
				return 0, err
			}
			if n > 0 {
				lossSum += sum
				tensor.Put(lm.BackwardLoss())
			}
		}
		return lossSum, nil
	}
	for i, b := range batches {
		logits, err := m.Forward(b.InputIDs)
		if err != nil {
			return 0, err
		}
		loss, n, err := ce.Forward(logits, targets[i])
		if err != nil {
			return 0, err
		}
		if n == 0 {
			tensor.Put(logits)
			continue
		}
		lossSum += loss * float64(n)
		// The input gradient and the logits are this step's to give back.
		tensor.Put(m.Backward(ce.Backward(float64(n)/float64(stepTargets))), logits)
	}
	return lossSum, nil
}

// cePool keeps cross-entropy layers, and with them their gradient buffers,
// from one step to the next.
var cePool = sync.Pool{New: func() any { return new(nn.CrossEntropy) }}
