package nn

import (
	"fmt"
	"math/bits"

	"github.com/orthotune/orthotune/kernels"
)

// KVCache keeps the keys and values of every position a decoder has already
// run, for each of its layers and batch rows, so that the next tokens'
// attention reads them instead of recomputing them. Keys are stored as the
// attention sees them (after RoPE, for models that rotate).
//
// A step appends: every layer calls Append with the new tokens' keys and
// values (written at positions Len() … Len()+n−1), runs ForwardCached,
// and once all layers are done the step calls Commit(n). Storage for each
// (layer, row) grows on demand up to MaxLen positions, so a cache sized for
// a long context costs memory only for the positions it holds.
//
// A layer whose attention sees only a sliding window (SetWindow) keeps only
// about the last two windows of positions: older ones are forgotten as the
// cache grows, so that its memory stays bounded however long the sequence.
//
// The methods panic on arguments that break these rules (a layer out of
// range, more positions than MaxLen): callers validate user input first.
type KVCache struct {
	layers, batch, maxLen, width int
	length                       int
	k, v                         [][][]float32 // [layer][row] → positions first[layer]… ·width
	window                       []int         // [layer]: the attention's window (0: every position)
	first                        []int         // [layer]: the position k[layer][row][0] holds
	scratch                      []float32     // attention probabilities of one ForwardCached
}

// NewKVCache returns an empty cache for layers layers, batch rows of up to
// maxLen positions, and key/value rows of width floats (KVHeads·HeadDim).
// A negative batch or maxLen counts as 0: such a cache holds nothing, and
// the model's Step reports the mismatch.
func NewKVCache(layers, batch, maxLen, width int) *KVCache {
	if layers <= 0 || width <= 0 {
		panic(fmt.Sprintf("nn: KV cache of %d layers of width %d: both must be positive", layers, width))
	}
	batch, maxLen = max(batch, 0), max(maxLen, 0)
	c := &KVCache{layers: layers, batch: batch, maxLen: maxLen, width: width, window: make([]int, layers), first: make([]int, layers)}
	c.k, c.v = make([][][]float32, layers), make([][][]float32, layers)
	for l := range layers {
		c.k[l], c.v[l] = make([][]float32, batch), make([][]float32, batch)
	}
	return c
}

// Len returns the number of positions committed (the same for every row).
func (c *KVCache) Len() int { return c.length }

// MaxLen returns the most positions the cache may hold.
func (c *KVCache) MaxLen() int { return c.maxLen }

// Batch returns the number of rows.
func (c *KVCache) Batch() int { return c.batch }

// Layers returns the number of layers.
func (c *KVCache) Layers() int { return c.layers }

// Width returns the floats per position of one layer's keys (and values).
func (c *KVCache) Width() int { return c.width }

// Reset empties the cache, keeping its storage for reuse.
func (c *KVCache) Reset() {
	c.length = 0
	clear(c.first)
}

// SetWindow says that layer's attention sees, from each position, only the
// window positions up to it (Attention.Window): the cache may forget the
// positions no new query can see any more. Set it on an empty cache; 0
// keeps every position.
func (c *KVCache) SetWindow(layer, window int) {
	if c.length != 0 || window < 0 {
		panic(fmt.Sprintf("nn: KV cache window %d set on a cache holding %d positions", window, c.length))
	}
	c.window[layer] = window
}

// First returns the first position the cache still holds for layer: 0, or
// later for a layer with a window (SetWindow).
func (c *KVCache) First(layer int) int { return c.first[layer] }

// Append stores the keys and values of n new positions of one layer: for
// batch row b, rows b·n … b·n+n−1 of k and v (each Width() floats) become
// positions Len() … Len()+n−1. Appending again before Commit overwrites
// them, so a step that failed half-way can simply be rerun.
func (c *KVCache) Append(layer int, k, v Strided, n int) {
	if layer < 0 || layer >= c.layers {
		panic(fmt.Sprintf("nn: KV cache layer %d out of range [0, %d)", layer, c.layers))
	}
	if n <= 0 || c.length+n > c.maxLen {
		panic(fmt.Sprintf("nn: KV cache holds %d of %d positions, cannot append %d", c.length, c.maxLen, n))
	}
	w := c.width
	// A windowed layer forgets the positions before the first one the new
	// queries see, once they are a whole window's worth (one copy every
	// window positions: about two windows held).
	if win := c.window[layer]; win > 0 {
		if drop := c.length - win + 1 - c.first[layer]; drop >= win {
			for b := range c.batch {
				kd, vd := c.k[layer][b], c.v[layer][b]
				keep := (c.length - c.first[layer] - drop) * w
				copy(kd, kd[drop*w:][:keep])
				copy(vd, vd[drop*w:][:keep])
			}
			c.first[layer] += drop
		}
	}
	held := (c.length - c.first[layer]) * w
	for b := range c.batch {
		kd, vd := c.k[layer][b][:held], c.v[layer][b][:held]
		for t := range n {
			kd = append(kd, k.at(b*n+t, 0)[:w]...)
			vd = append(vd, v.at(b*n+t, 0)[:w]...)
		}
		c.k[layer][b], c.v[layer][b] = kd, vd
	}
}

// Commit makes the n positions every layer has appended part of the cache.
func (c *KVCache) Commit(n int) {
	if n <= 0 || c.length+n > c.maxLen {
		panic(fmt.Sprintf("nn: KV cache holds %d of %d positions, cannot commit %d", c.length, c.maxLen, n))
	}
	for l := range c.layers {
		for b := range c.batch {
			if len(c.k[l][b]) != (c.length+n-c.first[l])*c.width {
				panic(fmt.Sprintf("nn: KV cache commit of %d positions, but layer %d row %d holds %d", n, l, b, len(c.k[l][b])/c.width))
			}
		}
	}
	c.length += n
}

// Keys returns the keys stored for one layer and row: positions·Width()
// floats from position First(layer), including positions appended but not
// yet committed.
func (c *KVCache) Keys(layer, row int) []float32 { return c.k[layer][row] }

// Values returns the values stored for one layer and row, as Keys does.
func (c *KVCache) Values(layer, row int) []float32 { return c.v[layer][row] }

// ForwardCached is Forward for n new tokens per batch row whose keys and
// values layer has just appended to c: query t of row b (row b·n+t of q)
// sits at absolute position c.Len()+t and attends, causally and within
// Window, to the cached positions and the new ones before it. It writes
// [batch·n, Heads·HeadDim] into out. The result equals the corresponding
// rows of a full Forward over the whole sequence up to rounding; the
// layer's saved activations for Backward are left untouched.
func (a *Attention) ForwardCached(q Strided, c *KVCache, layer, n int, out []float32) {
	if c.width != a.KVHeads*a.HeadDim {
		panic(fmt.Sprintf("nn: KV cache width %d, attention has %d key/value heads of %d", c.width, a.KVHeads, a.HeadDim))
	}
	start := c.length
	total := start + n
	first := c.first[layer]
	if c.batch > 0 && len(c.k[layer][0]) != (total-first)*c.width {
		panic(fmt.Sprintf("nn: KV cache layer %d holds %d positions, attention expects %d", layer, first+len(c.k[layer][0])/c.width, total))
	}
	// Keys before the first one any of the new queries may see (a sliding
	// window) are not read: the products cover positions [from, total), so
	// a windowed layer's step costs its window, not the whole sequence.
	from := a.firstVisible(start)
	if from < first {
		panic(fmt.Sprintf("nn: KV cache layer %d forgot positions before %d, attention (window %d) reads from %d", layer, first, a.Window, from))
	}
	span := total - from
	c.scratch = grow(c.scratch, c.batch*a.Heads*n*span)
	width := a.Heads * a.HeadDim
	group := a.Heads / a.KVHeads
	kernels.ParallelFor(c.batch*a.Heads, 1, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			b, h := bh/a.Heads, bh%a.Heads
			g := h / group
			row0 := b * n
			keys, values := c.k[layer][b][(from-first)*c.width:], c.v[layer][b][(from-first)*c.width:]
			p := c.scratch[bh*n*span : (bh+1)*n*span]
			kernels.Gemm(false, true, n, span, a.HeadDim, a.Scale,
				q.at(row0, h*a.HeadDim), q.Stride, keys[g*a.HeadDim:], c.width, 0, p, span)
			for i := range n {
				a.softmaxTileRow(p[i*span:(i+1)*span], start+i, from)
			}
			kernels.Gemm(false, false, n, a.HeadDim, span, 1,
				p, span, values[g*a.HeadDim:], c.width, 0, out[row0*width+h*a.HeadDim:], width)
		}
	})
}

// ApplyAt is Apply for rows whose positions start at start: row t of x is
// token start + (t mod seqLen). Apply is ApplyAt with start 0.
func (r *RoPE) ApplyAt(x []float32, offset, stride, rowCount, seqLen, start, heads int, inverse bool) {
	half := r.HeadDim / 2
	// The table grows to a power of two so that decoding one token at a
	// time does not recompute it at every step; entries do not depend on
	// the table's size.
	need := start + seqLen
	cos, sin := r.table(max(64, 1<<bits.Len(uint(need-1))))
	kernels.ParallelFor(rowCount, 8, func(lo, hi int) {
		for row := lo; row < hi; row++ {
			pos := start + row%seqLen
			c, s := cos[pos*half:(pos+1)*half], sin[pos*half:(pos+1)*half]
			for h := 0; h < heads; h++ {
				base := offset + row*stride + h*r.HeadDim
				kernels.RotatePairs(x[base:base+half], x[base+half:base+2*half], c, s, inverse)
			}
		}
	})
}
