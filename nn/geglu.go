package nn

import (
	"fmt"
	"math"

	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/tensor"
)

// GeGLU computes h = gelu(gate) ⊙ up, the gated activation of Gemma's MLP
// (down_proj(gelu(gate_proj(x)) · up_proj(x))), with the GELU formula Kind
// selects: GELUTanh (transformers' "gelu_pytorch_tanh", Gemma's default)
// or GELUExact ("gelu"), or GELUTanhF16 (llama.cpp's evaluation of
// GELUTanh; its Backward is GELUTanh's).
//
// Both are written gelu(g) = g·c(g): for GELUTanh c(g) = σ(2u) with
// u = √(2/π)(g + 0.044715g³), since 0.5(1 + tanh u) = σ(2u); for GELUExact
// c(g) = Φ(g), the normal CDF. Forward keeps gate, up and c(gate), so that
// Backward evaluates no transcendental function for GELUTanh.
type GeGLU struct {
	Kind GELUKind

	gate, up *tensor.Tensor
	c        *tensor.Tensor // c(gate)
	h        *tensor.Tensor // the output, reused between steps
}

// geluCubic is the cubic coefficient of GELU's tanh approximation.
const geluCubic = 0.044715

// Forward returns gelu(gate) ⊙ up; both inputs have the same shape.
func (s *GeGLU) Forward(gate, up *tensor.Tensor) *tensor.Tensor {
	if !gate.SameShape(up) {
		panic(fmt.Sprintf("nn: GeGLU: gate %v and up %v differ in shape", gate.Shape, up.Shape))
	}
	s.gate, s.up = gate, up
	s.h = tensor.Reuse(s.h, gate.Shape...) // every element is written below
	s.c = tensor.Reuse(s.c, gate.Shape...) // likewise
	hd, cd, gd, ud := s.h.Data, s.c.Data, gate.Data, up.Data
	var table *[1 << 16]float32
	if s.Kind == GELUTanhF16 {
		table = geluF16Table()
	}
	kernels.ParallelFor(len(hd), 4096, func(lo, hi int) {
		h, c := hd[lo:hi], cd[lo:hi]
		g, u := gd[lo:hi][:len(h)], ud[lo:hi][:len(h)]
		c = c[:len(h)]
		if s.Kind == GELUExact {
			for i, v := range g {
				c[i] = float32(0.5 * (1 + math.Erf(float64(v)/math.Sqrt2)))
			}
		} else {
			for i, v := range g {
				c[i] = 2 * sqrt2OverPi * (v + geluCubic*v*v*v)
			}
			kernels.Sigmoid(c, c)
		}
		if table != nil {
			for i := range h {
				h[i] = geluF16(g[i], table) * u[i]
			}
			return
		}
		for i := range h {
			h[i] = g[i] * c[i] * u[i]
		}
	})
	return s.h
}

// Backward returns dL/dgate and dL/dup.
func (s *GeGLU) Backward(dh *tensor.Tensor) (dgate, dup *tensor.Tensor) {
	dgate, dup = tensor.Get(dh.Shape...), tensor.Get(dh.Shape...) // fully written below
	gd, ud, cd, dd, dgd, dud := s.gate.Data, s.up.Data, s.c.Data, dh.Data, dgate.Data, dup.Data
	exact := s.Kind == GELUExact
	kernels.ParallelFor(len(dd), 4096, func(lo, hi int) {
		d := dd[lo:hi]
		g, u, c, dg, du := gd[lo:hi][:len(d)], ud[lo:hi][:len(d)], cd[lo:hi][:len(d)], dgd[lo:hi][:len(d)], dud[lo:hi][:len(d)]
		for i, di := range d {
			gi, ci := g[i], c[i]
			du[i] = di * gi * ci
			var slope float32 // gelu'(g)
			if exact {
				// Φ(g) + g·φ(g)
				slope = ci + float32(float64(gi)*math.Exp(-0.5*float64(gi)*float64(gi))/math.Sqrt(2*math.Pi))
			} else {
				// d/dg [g·σ(2u)] = σ(2u) + g·σ(2u)(1 − σ(2u))·2u'
				slope = ci + gi*ci*(1-ci)*2*sqrt2OverPi*(1+3*geluCubic*gi*gi)
			}
			dg[i] = di * u[i] * slope
		}
	})
	return dgate, dup
}

// Release drops gate, up and c(gate) and gives back the output (see
// Releaser).
func (s *GeGLU) Release() {
	tensor.Put(s.h, s.c)
	s.gate, s.up, s.c, s.h = nil, nil, nil, nil
}
