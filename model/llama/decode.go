package llama

import (
	"fmt"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

var _ model.Decoder = (*Model)(nil)

// NewCache returns an empty key/value cache (an *nn.KVCache) for batch
// rows of up to maxLen positions; a layer with a sliding window keeps about
// two windows of them. Positions beyond max_position_embeddings are
// allowed, as in Forward.
func (m *Model) NewCache(batch, maxLen int) model.Cache {
	c := nn.NewKVCache(m.cfg.Layers, batch, maxLen, m.cfg.KVHeads*m.cfg.HeadDim)
	for i, w := range m.cfg.SlidingWindow {
		if w > 0 {
			c.SetWindow(i, w)
		}
	}
	return c
}

// Step runs n new tokens per row at positions cache.Len() … cache.Len()+n−1
// (RoPE at those absolute positions, sliding windows as in Forward), appends
// their keys and values to the cache and returns logits [batch, n, vocab].
// It invalidates a pending Backward.
func (m *Model) Step(ids [][]int, cache model.Cache) (*tensor.Tensor, error) {
	kv, err := model.CheckStep(ids, m.cfg.Vocab, cache, len(m.blocks), m.cfg.KVHeads*m.cfg.HeadDim)
	if err != nil {
		return nil, fmt.Errorf("%s: step: %w", m.cfg.ModelType, err)
	}
	batch, n := len(ids), len(ids[0])
	h := m.embed.Forward(model.Flatten(ids))
	for i, b := range m.blocks {
		h = b.step(h, m.rope, kv, i, batch, n)
	}
	kv.Commit(n)
	logits := m.head.Layer.Forward(m.norm.Forward(h))
	return logits.Reshape(batch, n, m.cfg.Vocab), nil
}

// step is forward for n new tokens per row whose earlier positions are in
// kv; it leaves the block's attention activations (qOut, kOut, vOut) alone.
func (b *block) step(x *tensor.Tensor, rope *nn.RoPE, kv *nn.KVCache, layer, batch, n int) *tensor.Tensor {
	rows, start := batch*n, kv.Len()
	qd, kvd := b.heads*b.headDim, b.kvHeads*b.headDim
	h := b.inputNorm.Forward(x)
	q, k := b.normQK(b.q.Layer.Forward(h), b.k.Layer.Forward(h))
	v := b.v.Layer.Forward(h)
	rope.ApplyAt(q.Data, 0, qd, rows, n, start, b.heads, false)
	rope.ApplyAt(k.Data, 0, kvd, rows, n, start, b.kvHeads, false)
	kv.Append(layer, nn.Strided{Data: k.Data, Stride: kvd}, nn.Strided{Data: v.Data, Stride: kvd}, n)
	att := tensor.New(rows, qd)
	b.attn.ForwardCached(nn.Strided{Data: q.Data, Stride: qd}, kv, layer, n, att.Data)
	x2 := b.o.Layer.Forward(att).AddInPlace(x)
	h2 := b.postNorm.Forward(x2)
	mlp := b.down.Layer.Forward(b.mlp.Forward(b.gate.Layer.Forward(h2), b.up.Layer.Forward(h2)))
	return mlp.AddInPlace(x2)
}
