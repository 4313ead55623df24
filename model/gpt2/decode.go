package gpt2

import (
	"fmt"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

var _ model.Decoder = (*Model)(nil)

// NewCache returns an empty key/value cache (an *nn.KVCache) for batch
// rows of up to maxLen positions; Step still refuses positions beyond
// n_positions.
func (m *Model) NewCache(batch, maxLen int) model.Cache {
	return nn.NewKVCache(m.cfg.Layers, batch, maxLen, m.cfg.Hidden)
}

// Step runs n new tokens per row at positions cache.Len() … cache.Len()+n−1
// (learned position embeddings for those positions), appends their keys and
// values to the cache and returns logits [batch, n, vocab]. Positions must
// stay below n_positions. It invalidates a pending Backward.
func (m *Model) Step(ids [][]int, cache model.Cache) (*tensor.Tensor, error) {
	kv, err := model.CheckStep(ids, m.cfg.Vocab, cache, len(m.blocks), m.cfg.Hidden)
	if err != nil {
		return nil, fmt.Errorf("gpt2: step: %w", err)
	}
	batch, n, start := len(ids), len(ids[0]), kv.Len()
	if start+n > m.cfg.Positions {
		return nil, fmt.Errorf("gpt2: step: %d new tokens after %d cached positions exceed n_positions %d", n, start, m.cfg.Positions)
	}
	positions := make([]int, batch*n)
	for i := range positions {
		positions[i] = start + i%n
	}
	h := m.wte.Forward(model.Flatten(ids)).AddInPlace(m.wpe.Forward(positions))
	for i, b := range m.blocks {
		h = b.step(h, kv, i, batch, n)
	}
	kv.Commit(n)
	logits := m.head.Layer.Forward(m.lnF.Forward(h))
	return logits.Reshape(batch, n, m.cfg.Vocab), nil
}

// step is forward for n new tokens per row whose earlier positions are in
// kv; it leaves the block's attention activations (qkv) alone.
func (b *block) step(x *tensor.Tensor, kv *nn.KVCache, layer, batch, n int) *tensor.Tensor {
	d := b.hidden
	qkv := b.cAttn.Layer.Forward(b.ln1.Forward(x))
	kv.Append(layer, nn.Strided{Data: qkv.Data, Offset: d, Stride: 3 * d}, nn.Strided{Data: qkv.Data, Offset: 2 * d, Stride: 3 * d}, n)
	att := tensor.New(batch*n, d)
	b.attn.ForwardCached(nn.Strided{Data: qkv.Data, Stride: 3 * d}, kv, layer, n, att.Data)
	x2 := b.cProj.Layer.Forward(att).AddInPlace(x)
	mlp := b.mlpOut.Layer.Forward(b.act.Forward(b.cFC.Layer.Forward(b.ln2.Forward(x2))))
	return mlp.AddInPlace(x2)
}
