package train

import (
	"fmt"
	"math"

	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

// NamedParam is a trainable parameter with a name unique within its
// Target (an adapter key or a checkpoint weight name) and whether weight
// decay applies to it.
type NamedParam struct {
	Name  string
	Param *nn.Param
	Decay bool
}

// AdamW is torch.optim.AdamW: decoupled weight decay, bias-corrected
// first and second moments, eps added to the corrected root of the second
// moment. The moments are float32 like the parameters; the per-step
// scalars are float64.
type AdamW struct {
	Beta1, Beta2, Eps, WeightDecay float64
	params                         []NamedParam
	// ExpAvg and ExpAvgSq are the first and second moments, one per
	// parameter, in the order of the parameters.
	ExpAvg, ExpAvgSq []*tensor.Tensor
	// Steps counts the updates taken (torch's state["step"]).
	Steps int
}

// NewAdamW returns an optimizer over params with zero moments.
func NewAdamW(params []NamedParam, beta1, beta2, eps, weightDecay float64) (*AdamW, error) {
	switch {
	case !(beta1 >= 0 && beta1 < 1):
		return nil, fmt.Errorf("train: adam_beta1 = %g, want [0, 1)", beta1)
	case !(beta2 >= 0 && beta2 < 1):
		return nil, fmt.Errorf("train: adam_beta2 = %g, want [0, 1)", beta2)
	case !(eps > 0) || math.IsInf(eps, 0):
		return nil, fmt.Errorf("train: adam_epsilon = %g, want > 0", eps)
	case !(weightDecay >= 0) || math.IsInf(weightDecay, 0):
		return nil, fmt.Errorf("train: weight_decay = %g, want ≥ 0", weightDecay)
	}
	o := &AdamW{Beta1: beta1, Beta2: beta2, Eps: eps, WeightDecay: weightDecay, params: params}
	for _, p := range params {
		if p.Param.Grad == nil {
			return nil, fmt.Errorf("train: parameter %s is not trainable (no gradient buffer)", p.Name)
		}
		o.ExpAvg = append(o.ExpAvg, tensor.New(p.Param.W.Shape...))
		o.ExpAvgSq = append(o.ExpAvgSq, tensor.New(p.Param.W.Shape...))
	}
	return o, nil
}

// Params lists the parameters the optimizer updates.
func (o *AdamW) Params() []NamedParam { return o.params }

// ZeroGrad clears the gradient buffers of the parameters it updates.
func (o *AdamW) ZeroGrad() {
	for _, p := range o.params {
		p.Param.ZeroGrad()
	}
}

// Step applies one update with learning rate lr using the gradients in the
// parameters' Grad buffers.
func (o *AdamW) Step(lr float64) {
	o.Steps++
	t := float64(o.Steps)
	bc1 := 1 - math.Pow(o.Beta1, t)
	bc2 := 1 - math.Pow(o.Beta2, t)
	stepSize := float32(lr / bc1)
	sqrtBC2 := float32(math.Sqrt(bc2))
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	eps := float32(o.Eps)
	for i, p := range o.params {
		w, g := p.Param.W.Data, p.Param.Grad.Data
		m, v := o.ExpAvg[i].Data, o.ExpAvgSq[i].Data
		decay := float32(1)
		if p.Decay && o.WeightDecay != 0 {
			decay = float32(1 - lr*o.WeightDecay)
		}
		kernels.ParallelFor(len(w), 4096, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				gj := g[j]
				w[j] *= decay
				m[j] = b1*m[j] + (1-b1)*gj
				v[j] = b2*v[j] + (1-b2)*gj*gj
				denom := float32(math.Sqrt(float64(v[j])))/sqrtBC2 + eps
				w[j] -= stepSize * m[j] / denom
			}
		})
	}
}

// GlobalNorm returns the L2 norm of every gradient together, accumulated
// in float64.
func GlobalNorm(params []NamedParam) float64 {
	var sum float64
	for _, p := range params {
		for _, g := range p.Param.Grad.Data {
			sum += float64(g) * float64(g)
		}
	}
	return math.Sqrt(sum)
}

// ClipGradNorm scales the gradients so that their global norm is at most
// maxNorm, as torch.nn.utils.clip_grad_norm_ does (coefficient
// maxNorm/(norm+1e-6), applied only when below 1), and returns the norm
// before clipping. maxNorm ≤ 0 disables clipping.
func ClipGradNorm(params []NamedParam, maxNorm float64) float64 {
	norm := GlobalNorm(params)
	if maxNorm <= 0 {
		return norm
	}
	coef := maxNorm / (norm + 1e-6)
	if coef >= 1 {
		return norm
	}
	c := float32(coef)
	for _, p := range params {
		for j := range p.Param.Grad.Data {
			p.Param.Grad.Data[j] *= c
		}
	}
	return norm
}
