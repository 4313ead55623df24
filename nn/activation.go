package nn

import (
	"fmt"
	"math"
	"sync"

	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/tensor"
)

// SwiGLU computes h = silu(gate) ⊙ up, the gated activation of Llama's MLP
// (down_proj(silu(gate_proj(x)) · up_proj(x))). Forward keeps gate, up and
// σ(gate), so that Backward needs no exponentials.
type SwiGLU struct {
	gate, up *tensor.Tensor
	sig      *tensor.Tensor // σ(gate)
	h        *tensor.Tensor // the output, reused between steps
}

// Forward returns silu(gate) ⊙ up; both inputs have the same shape.
func (s *SwiGLU) Forward(gate, up *tensor.Tensor) *tensor.Tensor {
	if !gate.SameShape(up) {
		panic(fmt.Sprintf("nn: SwiGLU: gate %v and up %v differ in shape", gate.Shape, up.Shape))
	}
	s.gate, s.up = gate, up
	s.h = tensor.Reuse(s.h, gate.Shape...)     // every element is written below
	s.sig = tensor.Reuse(s.sig, gate.Shape...) // likewise
	hd, sigd, gd, ud := s.h.Data, s.sig.Data, gate.Data, up.Data
	kernels.ParallelFor(len(hd), 4096, func(lo, hi int) {
		// Local re-slices of equal length: no bounds checks, no reloads.
		h, sig, g := hd[lo:hi], sigd[lo:hi], gd[lo:hi]
		u := ud[lo:hi][:len(h)]
		sig, g = sig[:len(h)], g[:len(h)]
		kernels.Sigmoid(sig, g)
		kernels.MulMul(h, g, sig, u)
	})
	return s.h
}

// Backward returns dL/dgate and dL/dup.
func (s *SwiGLU) Backward(dh *tensor.Tensor) (dgate, dup *tensor.Tensor) {
	dgate, dup = tensor.Get(dh.Shape...), tensor.Get(dh.Shape...) // fully written below
	gd, ud, sd, dd, dgd, dud := s.gate.Data, s.up.Data, s.sig.Data, dh.Data, dgate.Data, dup.Data
	kernels.ParallelFor(len(dd), 4096, func(lo, hi int) {
		kernels.SwiGLUGrad(dgd[lo:hi], dud[lo:hi], dd[lo:hi], gd[lo:hi], ud[lo:hi], sd[lo:hi])
	})
	return dgate, dup
}

// GELUKind selects the GELU formula.
type GELUKind int

const (
	// GELUTanh is the tanh approximation (transformers' "gelu_new",
	// "gelu_pytorch_tanh", "gelu_fast"): 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))).
	GELUTanh GELUKind = iota
	// GELUExact is 0.5x(1 + erf(x/√2)) (transformers' "gelu").
	GELUExact
	// GELUTanhF16 is GELUTanh as ggml's CPU backend evaluates it in
	// llama.cpp and Ollama (ggml defines GGML_GELU_FP16): x ≤ −10 gives 0,
	// x ≥ 10 gives x, and any other x is rounded to the nearest float16 and
	// looked up in a table of GELUTanh at every float16 value, itself
	// rounded to float16 — even in a float32 model. No checkpoint asks for
	// it: it reproduces llama.cpp's numbers in orthotune, so that an exported
	// GGUF can be checked against them to float32 precision. Its Backward is
	// GELUTanh's derivative at x (the table's own is zero almost everywhere).
	GELUTanhF16
)

// geluF16Table is GELUTanh at every float16 value, rounded to float16 (NaN
// where the input is not finite), indexed by the float16's bits.
var geluF16Table = sync.OnceValue(func() *[1 << 16]float32 {
	var table [1 << 16]float32
	for bits := range table {
		v := float64(tensor.F16ToF32(uint16(bits)))
		y := float32(0.5 * v * (1 + math.Tanh(sqrt2OverPi*(v+geluCubic*v*v*v))))
		table[bits] = tensor.F16ToF32(tensor.F32ToF16(y))
	}
	return &table
})

// geluF16 is GELUTanhF16 at x.
func geluF16(x float32, table *[1 << 16]float32) float32 {
	switch {
	case x <= -10:
		return 0
	case x >= 10:
		return x
	}
	return table[tensor.F32ToF16(x)]
}

// GELU applies a GELU activation elementwise. Forward keeps its input.
type GELU struct {
	Kind GELUKind
	x, y *tensor.Tensor // y: the output, reused between steps
}

const sqrt2OverPi = 0.7978845608028654

// Forward applies the activation.
func (a *GELU) Forward(x *tensor.Tensor) *tensor.Tensor {
	a.x = x
	a.y = tensor.Reuse(a.y, x.Shape...) // every element is written below
	y := a.y
	if a.Kind == GELUTanhF16 {
		table := geluF16Table()
		kernels.ParallelFor(len(x.Data), 4096, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				y.Data[i] = geluF16(x.Data[i], table)
			}
		})
		return y
	}
	kernels.ParallelFor(len(x.Data), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := float64(x.Data[i])
			if a.Kind == GELUExact {
				y.Data[i] = float32(0.5 * v * (1 + math.Erf(v/math.Sqrt2)))
			} else {
				y.Data[i] = float32(0.5 * v * (1 + math.Tanh(sqrt2OverPi*(v+0.044715*v*v*v))))
			}
		}
	})
	return y
}

// Backward returns dL/dx.
func (a *GELU) Backward(dy *tensor.Tensor) *tensor.Tensor {
	dx := tensor.Get(dy.Shape...) // every element is written below
	kernels.ParallelFor(len(dy.Data), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := float64(a.x.Data[i])
			var d float64
			if a.Kind == GELUExact {
				d = 0.5*(1+math.Erf(v/math.Sqrt2)) + v*math.Exp(-0.5*v*v)/math.Sqrt(2*math.Pi)
			} else {
				t := math.Tanh(sqrt2OverPi * (v + 0.044715*v*v*v))
				d = 0.5*(1+t) + 0.5*v*(1-t*t)*sqrt2OverPi*(1+3*0.044715*v*v)
			}
			dx.Data[i] = float32(float64(dy.Data[i]) * d)
		}
	})
	return dx
}
