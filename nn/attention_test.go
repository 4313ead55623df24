package nn

import (
	"math"
	"testing"

	"github.com/orthotune/orthotune/tensor"
)

// naiveAttention computes causal GQA attention in float64 with plain loops.
func naiveAttention(q, k, v Strided, batch, seq, heads, kvHeads, headDim, window int, scale float64) []float64 {
	out := make([]float64, batch*seq*heads*headDim)
	group := heads / kvHeads
	for b := 0; b < batch; b++ {
		for h := 0; h < heads; h++ {
			g := h / group
			for i := 0; i < seq; i++ {
				lo := 0
				if window > 0 && i-window+1 > 0 {
					lo = i - window + 1
				}
				scores := make([]float64, seq)
				m := math.Inf(-1)
				for j := lo; j <= i; j++ {
					var s float64
					for d := 0; d < headDim; d++ {
						s += float64(q.at(b*seq+i, h*headDim+d)[0]) * float64(k.at(b*seq+j, g*headDim+d)[0])
					}
					scores[j] = s * scale
					m = math.Max(m, scores[j])
				}
				var z float64
				for j := lo; j <= i; j++ {
					scores[j] = math.Exp(scores[j] - m)
					z += scores[j]
				}
				for d := 0; d < headDim; d++ {
					var acc float64
					for j := lo; j <= i; j++ {
						acc += scores[j] / z * float64(v.at(b*seq+j, g*headDim+d)[0])
					}
					out[(b*seq+i)*heads*headDim+h*headDim+d] = acc
				}
			}
		}
	}
	return out
}

func TestAttention(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		heads, kvHeads, width int
		window                int
		packed                bool // q, k, v share one buffer, GPT-2 style
		seq                   int
	}{
		{"multi-head", 2, 2, 4, 0, false, 5},
		{"grouped-query", 4, 2, 4, 0, false, 5},
		{"multi-query", 3, 1, 4, 0, false, 5},
		{"sliding window", 2, 1, 4, 2, false, 5},
		{"packed qkv", 2, 2, 4, 0, true, 5},
		// Several query tiles, the last one ragged; a window that starts
		// inside an earlier tile, and one wider than a tile.
		{"tiles", 2, 1, 3, 0, false, 2*attnTile + 7},
		{"tiles, window inside a tile", 2, 2, 3, 5, false, 2*attnTile + 7},
		{"tiles, window across tiles", 2, 1, 3, attnTile + 9, true, 3*attnTile + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := tensor.NewRNG(11)
			batch, seq := 2, tc.seq
			n := batch * seq
			qw, kw := tc.heads*tc.width, tc.kvHeads*tc.width
			a, err := NewAttention(tc.heads, tc.kvHeads, tc.width)
			if err != nil {
				t.Fatal(err)
			}
			a.Window = tc.window
			var q, k, v Strided
			var bufs []*tensor.Tensor
			if tc.packed {
				buf := randTensor(rng, 1, n, qw+2*kw)
				q = Strided{buf.Data, 0, qw + 2*kw}
				k = Strided{buf.Data, qw, qw + 2*kw}
				v = Strided{buf.Data, qw + kw, qw + 2*kw}
				bufs = []*tensor.Tensor{buf}
			} else {
				qb, kb, vb := randTensor(rng, 1, n, qw), randTensor(rng, 1, n, kw), randTensor(rng, 1, n, kw)
				q, k, v = Strided{qb.Data, 0, qw}, Strided{kb.Data, 0, kw}, Strided{vb.Data, 0, kw}
				bufs = []*tensor.Tensor{qb, kb, vb}
			}
			out := make([]float32, n*qw)
			a.Forward(q, k, v, batch, seq, out)
			want := naiveAttention(q, k, v, batch, seq, tc.heads, tc.kvHeads, tc.width, tc.window, float64(a.Scale))
			for i := range want {
				if math.Abs(float64(out[i])-want[i]) > 1e-5 {
					t.Fatalf("out[%d] = %v, naive %v", i, out[i], want[i])
				}
			}

			g := randTensor(rng, 1, n, qw)
			loss := func() float64 {
				o := make([]float32, n*qw)
				a.Forward(q, k, v, batch, seq, o)
				return weightedSum(o, g.Data)
			}
			loss()
			grads := make([]*tensor.Tensor, len(bufs))
			for i, b := range bufs {
				grads[i] = tensor.New(b.Shape...)
				for j := range grads[i].Data {
					grads[i].Data[j] = float32(math.NaN()) // Backward must overwrite every entry
				}
			}
			if tc.packed {
				w := qw + 2*kw
				a.Backward(g.Data, Strided{grads[0].Data, 0, w}, Strided{grads[0].Data, qw, w}, Strided{grads[0].Data, qw + kw, w})
			} else {
				a.Backward(g.Data, Strided{grads[0].Data, 0, qw}, Strided{grads[1].Data, 0, kw}, Strided{grads[2].Data, 0, kw})
			}
			for i, b := range bufs {
				checkGrad(t, []string{"dq", "dk", "dv", "dqkv"}[map[bool]int{true: 3, false: i}[tc.packed]], b.Data, grads[i].Data, loss, gradTol)
			}
		})
	}
}

func TestNewAttentionRejectsUnevenGroups(t *testing.T) {
	if _, err := NewAttention(6, 4, 8); err == nil {
		t.Fatal("6 heads over 4 key/value heads accepted")
	}
}
