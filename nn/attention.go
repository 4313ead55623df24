package nn

import (
	"fmt"
	"math"

	"github.com/orthotune/orthotune/kernels"
)

// Strided addresses a matrix of heads inside a larger buffer: row r, column
// c is Data[Offset + r·Stride + c]. It lets attention read q, k and v
// straight out of a projection's output (GPT-2 packs all three in one).
type Strided struct {
	Data   []float32
	Offset int
	Stride int
}

func (s Strided) at(row, col int) []float32 { return s.Data[s.Offset+row*s.Stride+col:] }

// Attention is causal scaled-dot-product attention with grouped-query heads:
// query head h reads key/value head h / (Heads/KVHeads). Softmax runs in
// float32 after subtracting the row maximum. Forward keeps q, k, v (as
// views) and the attention probabilities.
type Attention struct {
	Heads, KVHeads, HeadDim int
	Scale                   float32 // usually 1/√HeadDim
	// Window, when positive, limits each query to the Window most recent
	// positions including itself (Mistral's sliding window).
	Window int

	q, k, v Strided
	batch   int
	seq     int
	probs   []float32 // [batch][heads][seq][seq]
}

// NewAttention checks the head layout and returns a layer with the usual
// 1/√HeadDim scale.
func NewAttention(heads, kvHeads, headDim int) (*Attention, error) {
	if heads <= 0 || kvHeads <= 0 || headDim <= 0 || heads%kvHeads != 0 {
		return nil, fmt.Errorf("nn: attention with %d heads and %d key/value heads of width %d: heads must be a positive multiple of key/value heads", heads, kvHeads, headDim)
	}
	return &Attention{Heads: heads, KVHeads: kvHeads, HeadDim: headDim, Scale: float32(1 / math.Sqrt(float64(headDim)))}, nil
}

// Forward computes attention for batch sequences of seq tokens each and
// writes the heads' outputs into out ([batch·seq, Heads·HeadDim]).
func (a *Attention) Forward(q, k, v Strided, batch, seq int, out []float32) {
	a.q, a.k, a.v, a.batch, a.seq = q, k, v, batch, seq
	a.probs = grow(a.probs, batch*a.Heads*seq*seq)
	width := a.Heads * a.HeadDim
	group := a.Heads / a.KVHeads
	kernels.ParallelFor(batch*a.Heads, 1, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			b, h := bh/a.Heads, bh%a.Heads
			g := h / group
			row0 := b * seq
			p := a.probs[bh*seq*seq : (bh+1)*seq*seq]
			// scores = scale · q_h k_gᵀ
			kernels.Gemm(false, true, seq, seq, a.HeadDim, a.Scale,
				q.at(row0, h*a.HeadDim), q.Stride, k.at(row0, g*a.HeadDim), k.Stride, 0, p, seq)
			for i := 0; i < seq; i++ {
				a.softmaxRow(p[i*seq:(i+1)*seq], i)
			}
			kernels.Gemm(false, false, seq, a.HeadDim, seq, 1,
				p, seq, v.at(row0, g*a.HeadDim), v.Stride, 0, out[row0*width+h*a.HeadDim:], width)
		}
	})
}

// firstVisible returns the first key position query i may attend to.
func (a *Attention) firstVisible(i int) int {
	if a.Window > 0 && i-a.Window+1 > 0 {
		return i - a.Window + 1
	}
	return 0
}

// softmaxRow turns row i of the scores into causal probabilities in place.
func (a *Attention) softmaxRow(row []float32, i int) {
	lo := a.firstVisible(i)
	m := float32(math.Inf(-1))
	for j := lo; j <= i; j++ {
		m = max(m, row[j])
	}
	inv := float32(1 / kernels.ExpSlice(row[lo:i+1], row[lo:i+1], -m))
	for j := range row {
		if j < lo || j > i {
			row[j] = 0
		} else {
			row[j] *= inv
		}
	}
}

// Backward takes dL/dout ([batch·seq, Heads·HeadDim]) and writes dL/dq,
// dL/dk and dL/dv into the given views (same layout as the forward's q, k,
// v). dk and dv are overwritten, then accumulated across the query heads
// that share them.
func (a *Attention) Backward(dout []float32, dq, dk, dv Strided) {
	seq, width := a.seq, a.Heads*a.HeadDim
	group := a.Heads / a.KVHeads
	for r := 0; r < a.batch*seq; r++ {
		clear(dk.at(r, 0)[:a.KVHeads*a.HeadDim])
		clear(dv.at(r, 0)[:a.KVHeads*a.HeadDim])
	}
	// Heads sharing a key/value head accumulate into the same dk/dv, so
	// work is split by (batch, kv head) and each worker runs its group.
	kernels.ParallelFor(a.batch*a.KVHeads, 1, func(lo, hi int) {
		ds := make([]float32, seq*seq)
		for bg := lo; bg < hi; bg++ {
			b, g := bg/a.KVHeads, bg%a.KVHeads
			row0 := b * seq
			for h := g * group; h < (g+1)*group; h++ {
				p := a.probs[(b*a.Heads+h)*seq*seq : (b*a.Heads+h+1)*seq*seq]
				do := dout[row0*width+h*a.HeadDim:]
				// dv_g += pᵀ · do
				kernels.Gemm(true, false, seq, a.HeadDim, seq, 1, p, seq, do, width, 1, dv.at(row0, g*a.HeadDim), dv.Stride)
				// dp = do · v_gᵀ
				kernels.Gemm(false, true, seq, seq, a.HeadDim, 1, do, width, a.v.at(row0, g*a.HeadDim), a.v.Stride, 0, ds, seq)
				// ds = p ⊙ (dp − rowsum(dp ⊙ p))
				for i := 0; i < seq; i++ {
					pr, dr := p[i*seq:(i+1)*seq], ds[i*seq:(i+1)*seq]
					var dot float32
					for j := a.firstVisible(i); j <= i; j++ {
						dot += pr[j] * dr[j]
					}
					for j := range dr {
						dr[j] = pr[j] * (dr[j] - dot)
					}
				}
				// dq_h = scale · ds · k_g ; dk_g += scale · dsᵀ · q_h
				kernels.Gemm(false, false, seq, a.HeadDim, seq, a.Scale, ds, seq, a.k.at(row0, g*a.HeadDim), a.k.Stride, 0, dq.at(row0, h*a.HeadDim), dq.Stride)
				kernels.Gemm(true, false, seq, a.HeadDim, seq, a.Scale, ds, seq, a.q.at(row0, h*a.HeadDim), a.q.Stride, 1, dk.at(row0, g*a.HeadDim), dk.Stride)
			}
		}
	})
}
