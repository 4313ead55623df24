package nn

import (
	"fmt"
	"math"

	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/tensor"
)

// OffsetRMSNorm computes y = x / √(mean(x²) + eps) · (1 + w) over the last
// axis: Gemma's RMSNorm, whose stored weight w is the offset of the gain
// from 1 (transformers initialises it to zeros, and a checkpoint stores the
// offset). The statistics accumulate in float64 as in RMSNorm; the gain
// 1 + w and the product are float32, as transformers computes them for a
// float32 model. Forward keeps x and each row's 1/rms; the output may be
// modified in place by the caller (Backward does not read it).
//
// Applied to per-head rows (Gemma's q_norm and k_norm over head_dim), the
// caller reshapes [rows, heads·headDim] to [rows·heads, headDim].
type OffsetRMSNorm struct {
	Weight *Param
	Eps    float64

	x      *tensor.Tensor
	invRMS []float32
	gain   []float32 // 1 + w of the last Forward
	y      *tensor.Tensor
}

// NewOffsetRMSNorm wraps a (dim) weight holding the gain's offset from 1.
func NewOffsetRMSNorm(name string, w *tensor.Tensor, eps float64) (*OffsetRMSNorm, error) {
	if len(w.Shape) != 1 {
		return nil, fmt.Errorf("nn: %s: want 1 dimension, got shape %v", name, w.Shape)
	}
	return &OffsetRMSNorm{Weight: NewParam(name, w), Eps: eps}, nil
}

// Forward normalises each row of x.
func (n *OffsetRMSNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	r, d := rows(x)
	if d != n.Weight.W.Len() {
		panic(fmt.Sprintf("nn: %s: input width %d, weight has %d", n.Weight.Name, d, n.Weight.W.Len()))
	}
	n.y = tensor.Reuse(n.y, x.Shape...) // every element is written below
	y := n.y
	n.x = x
	n.invRMS = grow(n.invRMS, r)
	n.gain = grow(n.gain, d)
	for j, w := range n.Weight.W.Data {
		n.gain[j] = 1 + w
	}
	gain := n.gain
	kernels.ParallelFor(r, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xr := x.Data[i*d : (i+1)*d]
			var ss float64
			for _, v := range xr {
				ss += float64(v) * float64(v)
			}
			inv := float32(1 / math.Sqrt(ss/float64(d)+n.Eps))
			n.invRMS[i] = inv
			yr, g := y.Data[i*d : (i+1)*d][:len(xr)], gain[:len(xr)]
			for j, v := range xr {
				yr[j] = (v * inv) * g[j]
			}
		}
	})
	return y
}

// Backward returns dL/dx; dL/dw accumulates when trainable (the gradient
// of the offset equals that of the gain).
func (n *OffsetRMSNorm) Backward(dy *tensor.Tensor) *tensor.Tensor {
	r, d := rows(dy)
	dx := tensor.Get(dy.Shape...) // every element is written below
	gain := n.gain
	kernels.ParallelFor(r, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xr := n.x.Data[i*d : (i+1)*d]
			dyr, dxr, g := dy.Data[i*d : (i+1)*d][:len(xr)], dx.Data[i*d : (i+1)*d][:len(xr)], gain[:len(xr)]
			inv := float64(n.invRMS[i])
			// x̂ = x·inv; dx̂ = dy·g; dx = inv·dx̂ − x·(inv³·mean(dx̂·x)).
			var dot float64
			for j, xv := range xr {
				dot += float64(dyr[j]*g[j]) * float64(xv)
			}
			a, c := float32(inv), float32(inv*inv*inv*dot/float64(d))
			for j, xv := range xr {
				dxr[j] = a*(dyr[j]*g[j]) - xv*c
			}
		}
	})
	if gw := n.Weight.Grad; gw != nil {
		for i := 0; i < r; i++ {
			inv := n.invRMS[i]
			xr, dyr := n.x.Data[i*d:(i+1)*d], dy.Data[i*d:(i+1)*d]
			for j := range gw.Data[:d] {
				gw.Data[j] += dyr[j] * (xr[j] * inv)
			}
		}
	}
	return dx
}

// Replica returns a replica of n (see Replicas).
func (n *OffsetRMSNorm) Replica(r *Replicas) *OffsetRMSNorm {
	return &OffsetRMSNorm{Weight: r.Param(n.Weight), Eps: n.Eps}
}

// Release drops the input and per-row statistics and gives back the output
// (see Releaser).
func (n *OffsetRMSNorm) Release() {
	tensor.Put(n.y)
	n.x, n.invRMS, n.y = nil, nil, nil
}
