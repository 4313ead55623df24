package gemma3

import (
	"fmt"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

var (
	_ model.Decoder      = (*Model)(nil)
	_ model.LossModel    = (*Model)(nil)
	_ model.Replicator   = (*Model)(nil)
	_ model.Checkpointer = (*Model)(nil)
)

// NewCache returns an empty key/value cache (an *nn.KVCache) for batch
// rows of up to maxLen positions. A global layer keeps every position, a
// sliding layer about two windows of them (its attention reads only its
// window). Positions beyond max_position_embeddings are allowed, as in
// Forward.
func (m *Model) NewCache(batch, maxLen int) model.Cache {
	c := nn.NewKVCache(m.cfg.Layers, batch, maxLen, m.cfg.KVHeads*m.cfg.HeadDim)
	for i := range m.cfg.Layers {
		if m.cfg.Sliding(i) {
			c.SetWindow(i, m.cfg.SlidingWindow)
		}
	}
	return c
}

// Step runs n new tokens per row at positions cache.Len() … cache.Len()+n−1
// (each layer's RoPE at those absolute positions, sliding layers masked to
// their window as in Forward), appends their keys and values to the cache
// and returns the (soft-capped) logits [batch, n, vocab]. It invalidates a
// pending Backward.
func (m *Model) Step(ids [][]int, cache model.Cache) (*tensor.Tensor, error) {
	kv, err := model.CheckStep(ids, m.cfg.Vocab, cache, len(m.blocks), m.cfg.KVHeads*m.cfg.HeadDim)
	if err != nil {
		return nil, fmt.Errorf("%s: step: %w", ModelType, err)
	}
	batch, n := len(ids), len(ids[0])
	m.ids = nil
	h := m.embedIDs(model.Flatten(ids))
	for i, b := range m.blocks {
		h = b.step(h, kv, i, batch, n)
	}
	kv.Commit(n)
	logits := m.head.Layer.Forward(m.norm.Forward(h))
	if m.softcap != nil {
		m.softcap.Forward(logits)
	}
	return logits.Reshape(batch, n, m.cfg.Vocab), nil
}

// step is forward for n new tokens per row whose earlier positions are in
// kv; it leaves the block's attention activations (qOut, kOut, vOut) alone.
func (b *block) step(x *tensor.Tensor, kv *nn.KVCache, layer, batch, n int) *tensor.Tensor {
	rows := batch * n
	qd, kvd := b.heads*b.headDim, b.kvHeads*b.headDim
	q, k, v := b.project(b.inputNorm.Forward(x), rows, n, kv.Len())
	kv.Append(layer, nn.Strided{Data: k.Data, Stride: kvd}, nn.Strided{Data: v.Data, Stride: kvd}, n)
	att := tensor.New(rows, qd)
	b.attn.ForwardCached(nn.Strided{Data: q.Data, Stride: qd}, kv, layer, n, att.Data)
	x2 := b.postAttnNorm.Forward(b.o.Layer.Forward(att)).AddInPlace(x)
	return b.mlpBranch(x2)
}
