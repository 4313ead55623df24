package nn

import (
	"fmt"

	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/tensor"
)

// Softcap computes y = c·tanh(x/c) elementwise, Gemma's soft-capping of
// logits (final_logit_softcapping): it is close to x where |x| ≪ c and
// bounded by ±c. Forward works in place and keeps tanh(x/c) for Backward,
// which returns dy·(1 − tanh²(x/c)). tanh is evaluated as 2σ(2z) − 1 with
// kernels.Sigmoid: absolute error of a few float32 ulps of c.
type Softcap struct {
	Cap float32 // c > 0

	t *tensor.Tensor // tanh(x/c) of the last Forward, reused between steps
}

// NewSoftcap returns a soft-cap at c, which must be positive and finite.
func NewSoftcap(c float64) (*Softcap, error) {
	if !(c > 0) || float32(c) > 3.4e38 {
		return nil, fmt.Errorf("nn: soft-cap %g: want a positive finite value", c)
	}
	return &Softcap{Cap: float32(c)}, nil
}

// Forward overwrites x with c·tanh(x/c) and returns it.
func (s *Softcap) Forward(x *tensor.Tensor) *tensor.Tensor {
	s.t = tensor.Reuse(s.t, x.Shape...) // every element is written below
	xd, td, c := x.Data, s.t.Data, s.Cap
	kernels.ParallelFor(len(xd), 4096, func(lo, hi int) {
		xs, ts := xd[lo:hi], td[lo:hi]
		ts = ts[:len(xs)]
		for i, v := range xs {
			ts[i] = 2 * v / c
		}
		kernels.Sigmoid(ts, ts)
		for i := range ts {
			ts[i] = 2*ts[i] - 1
			xs[i] = c * ts[i]
		}
	})
	return x
}

// Backward returns dL/dx for the last Forward, from tensor.Get.
func (s *Softcap) Backward(dy *tensor.Tensor) *tensor.Tensor {
	dx := tensor.Get(dy.Shape...) // every element is written below
	dd, td, xd := dy.Data, s.t.Data, dx.Data
	kernels.ParallelFor(len(dd), 4096, func(lo, hi int) {
		d, t, out := dd[lo:hi], td[lo:hi], xd[lo:hi]
		t, out = t[:len(d)], out[:len(d)]
		for i, v := range d {
			out[i] = v * (1 - t[i]*t[i])
		}
	})
	return dx
}

// Release gives back the kept tanh values (see Releaser).
func (s *Softcap) Release() {
	tensor.Put(s.t)
	s.t = nil
}
