package nn

import (
	"fmt"
	"math"

	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/tensor"
)

// RMSNorm computes y = x · g / √(mean(x²) + eps) over the last axis, as
// Llama's RMSNorm does (statistics accumulated in float64), with the gain
// g = Offset + w: Offset 0 is Llama's norm (the weight is the gain), Offset
// 1 Gemma's, whose stored weight is the gain's offset from 1 (the gain is
// computed in float32, as transformers does for a float32 model). Forward
// keeps x and each row's 1/rms; the output may be modified in place by the
// caller (Backward does not read it).
//
// Applied to per-head rows (q/k norms over head_dim), the caller reshapes
// [rows, heads·headDim] to [rows·heads, headDim].
type RMSNorm struct {
	Weight *Param
	Eps    float64
	Offset float32

	x      *tensor.Tensor
	invRMS []float32
	gain   []float32      // Offset + w of the last Forward (Offset ≠ 0)
	y      *tensor.Tensor // the output, reused between steps
}

// NewRMSNorm wraps a (dim) weight.
func NewRMSNorm(name string, w *tensor.Tensor, eps float64) (*RMSNorm, error) {
	if len(w.Shape) != 1 {
		return nil, fmt.Errorf("nn: %s: want 1 dimension, got shape %v", name, w.Shape)
	}
	return &RMSNorm{Weight: NewParam(name, w), Eps: eps}, nil
}

// Forward normalises each row of x.
func (n *RMSNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	r, d := rows(x)
	if d != n.Weight.W.Len() {
		panic(fmt.Sprintf("nn: %s: input width %d, weight has %d", n.Weight.Name, d, n.Weight.W.Len()))
	}
	n.y = tensor.Reuse(n.y, x.Shape...) // every element is written below
	y := n.y
	n.x = x
	n.invRMS = grow(n.invRMS, r)
	w := n.gainOf()
	kernels.ParallelFor(r, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xr := x.Data[i*d : (i+1)*d]
			ss := kernels.SumSquares(xr)
			inv := float32(1 / math.Sqrt(ss/float64(d)+n.Eps))
			n.invRMS[i] = inv
			kernels.ScaleMul(y.Data[i*d:(i+1)*d], w, xr, inv)
		}
	})
	return y
}

// gainOf returns the gain Offset + w: the weight itself when Offset is 0,
// else computed into n.gain for this Forward and its Backward.
func (n *RMSNorm) gainOf() []float32 {
	if n.Offset == 0 {
		return n.Weight.W.Data
	}
	n.gain = grow(n.gain, n.Weight.W.Len())
	for j, w := range n.Weight.W.Data {
		n.gain[j] = n.Offset + w
	}
	return n.gain
}

// Backward returns dL/dx; dL/dw accumulates when trainable (the gradient
// of the weight equals that of the gain, whatever the Offset).
func (n *RMSNorm) Backward(dy *tensor.Tensor) *tensor.Tensor {
	r, d := rows(dy)
	dx := tensor.Get(dy.Shape...) // every element is written below
	w := n.Weight.W.Data
	if n.Offset != 0 {
		w = n.gain
	}
	kernels.ParallelFor(r, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xr := n.x.Data[i*d : (i+1)*d]
			dyr, dxr, wr := dy.Data[i*d : (i+1)*d][:len(xr)], dx.Data[i*d : (i+1)*d][:len(xr)], w[:len(xr)]
			inv := float64(n.invRMS[i])
			// x̂ = x·inv; dx̂ = dy·w; dx = inv·(dx̂ − x̂·mean(dx̂·x̂))
			//                              = inv·dx̂ − x·(inv³·mean(dx̂·x)).
			dot := kernels.DotMul(dyr, wr, xr)
			a, c := float32(inv), float32(inv*inv*inv*dot/float64(d))
			kernels.MulSubScaled(dxr, dyr, wr, xr, a, c)
		}
	})
	if g := n.Weight.Grad; g != nil {
		for i := 0; i < r; i++ {
			inv := n.invRMS[i]
			for j := 0; j < d; j++ {
				g.Data[j] += dy.Data[i*d+j] * n.x.Data[i*d+j] * inv
			}
		}
	}
	return dx
}

// LayerNorm computes y = (x − mean)/√(var + eps) · w + b over the last axis
// (biased variance, statistics in float64), as torch.nn.LayerNorm. Forward
// keeps the normalised x̂ and each row's 1/σ.
type LayerNorm struct {
	Weight, Bias *Param
	Eps          float64

	xhat   *tensor.Tensor
	invStd []float32
	y      *tensor.Tensor // the output, reused between steps
}

// NewLayerNorm wraps (dim) weight and bias.
func NewLayerNorm(name string, w, b *tensor.Tensor, eps float64) (*LayerNorm, error) {
	if len(w.Shape) != 1 || !w.SameShape(b) {
		return nil, fmt.Errorf("nn: %s: weight %v and bias %v must be equal 1-D shapes", name, w.Shape, b.Shape)
	}
	return &LayerNorm{Weight: NewParam(name+".weight", w), Bias: NewParam(name+".bias", b), Eps: eps}, nil
}

// Forward normalises each row of x.
func (n *LayerNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	r, d := rows(x)
	if d != n.Weight.W.Len() {
		panic(fmt.Sprintf("nn: %s: input width %d, weight has %d", n.Weight.Name, d, n.Weight.W.Len()))
	}
	n.y = tensor.Reuse(n.y, x.Shape...)       // every element is written below
	n.xhat = tensor.Reuse(n.xhat, x.Shape...) // likewise
	y := n.y
	n.invStd = grow(n.invStd, r)
	w, b := n.Weight.W.Data, n.Bias.W.Data
	kernels.ParallelFor(r, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xr := x.Data[i*d : (i+1)*d]
			var s float64
			for _, v := range xr {
				s += float64(v)
			}
			mean := s / float64(d)
			var ss float64
			for _, v := range xr {
				c := float64(v) - mean
				ss += c * c
			}
			inv := 1 / math.Sqrt(ss/float64(d)+n.Eps)
			n.invStd[i] = float32(inv)
			xh, yr := n.xhat.Data[i*d:(i+1)*d], y.Data[i*d:(i+1)*d]
			for j, v := range xr {
				h := float32((float64(v) - mean) * inv)
				xh[j] = h
				yr[j] = h*w[j] + b[j]
			}
		}
	})
	return y
}

// Backward returns dL/dx; dL/dw and dL/db accumulate when trainable.
func (n *LayerNorm) Backward(dy *tensor.Tensor) *tensor.Tensor {
	r, d := rows(dy)
	dx := tensor.Get(dy.Shape...) // every element is written below
	w := n.Weight.W.Data
	kernels.ParallelFor(r, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xh, dyr, dxr := n.xhat.Data[i*d:(i+1)*d], dy.Data[i*d:(i+1)*d], dx.Data[i*d:(i+1)*d]
			// dx = inv·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dx̂ = dy·w.
			var sum, dot float64
			for j := range xh {
				g := float64(dyr[j]) * float64(w[j])
				sum += g
				dot += g * float64(xh[j])
			}
			ms, md := sum/float64(d), dot/float64(d)
			inv := float64(n.invStd[i])
			for j := range xh {
				g := float64(dyr[j]) * float64(w[j])
				dxr[j] = float32(inv * (g - ms - float64(xh[j])*md))
			}
		}
	})
	if g := n.Weight.Grad; g != nil {
		for i := 0; i < r; i++ {
			for j := 0; j < d; j++ {
				g.Data[j] += dy.Data[i*d+j] * n.xhat.Data[i*d+j]
			}
		}
	}
	if g := n.Bias.Grad; g != nil {
		addColumnSums(g.Data, dy.Data, r, d)
	}
	return dx
}

// grow returns s resized to n, reusing its storage when large enough.
func grow(s []float32, n int) []float32 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float32, n)
}

// growF64 is grow for float64 slices.
func growF64(s []float64, n int) []float64 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float64, n)
}
