package llama

import (
	"fmt"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

func init() {
	for t, v := range variants {
		model.Register(t, Builder(v))
	}
}

// Model is a Llama-family causal LM.
type Model struct {
	model.Parts
	cfg    *Config
	embed  *nn.Embedding
	blocks []*block
	norm   *nn.RMSNorm
	head   *model.LinearSlot
	rope   *nn.RoPE

	batch, seq int
	checkpoint bool
	loss       model.HeadLossPass // between ForwardLoss and BackwardLoss
}

type block struct {
	inputNorm, postNorm                 *nn.RMSNorm
	qNorm, kNorm                        *nn.RMSNorm // per-head, over headDim; nil without Config.QKNorm
	q, k, v, o, gate, up, down          *model.LinearSlot
	attn                                *nn.Attention
	mlp                                 nn.SwiGLU
	qOut, kOut, vOut                    *tensor.Tensor // after RoPE, kept for attention backward
	att                                 *tensor.Tensor // attention output, reused between steps
	heads, kvHeads, headDim, batch, seq int
	saved                               model.BlockCheckpoint
	rope                                *nn.RoPE // the model's, for Forward and Backward
}

// Forward runs the block for the pass the model set up (model.Block).
func (b *block) Forward(x *tensor.Tensor) *tensor.Tensor { return b.forward(x, b.rope, b.batch, b.seq) }

// Backward differentiates the block's last Forward (model.Block).
func (b *block) Backward(dy *tensor.Tensor) *tensor.Tensor { return b.backward(dy, b.rope) }

// Checkpoint returns the block's checkpoint (model.Block).
func (b *block) Checkpoint() *model.BlockCheckpoint { return &b.saved }

// Slots lists the block's linear layers (model.Block).
func (b *block) Slots() []*model.LinearSlot {
	return []*model.LinearSlot{b.q, b.k, b.v, b.o, b.gate, b.up, b.down}
}

// Release drops every activation the block keeps for backward
// (model.Block).
func (b *block) Release() {
	tensor.Put(b.att)
	b.qOut, b.kOut, b.vOut, b.att = nil, nil, nil, nil
	nn.Release(b.inputNorm, b.postNorm, b.attn, &b.mlp)
	if b.qNorm != nil {
		nn.Release(b.qNorm, b.kNorm)
	}
	for _, s := range b.Slots() {
		nn.Release(s.Layer)
	}
}

// SetGradientCheckpointing turns gradient checkpointing on or off
// (model.Checkpointer).
func (m *Model) SetGradientCheckpointing(on bool) error {
	m.checkpoint = on
	return nil
}

// New builds a model from a parsed config and its weights, asking w for
// each checkpoint tensor by its Hugging Face name and the shape cfg
// implies.
func New(cfg *Config, w *model.Weights) (*Model, error) {
	m := &Model{cfg: cfg, rope: &nn.RoPE{HeadDim: cfg.HeadDim, InvFreq: cfg.InvFreq}}
	d, qd, kvd := cfg.Hidden, cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim
	table, err := w.Get("model.embed_tokens.weight", cfg.Vocab, d)
	if err != nil {
		return nil, err
	}
	if m.embed, err = nn.NewEmbedding("model.embed_tokens.weight", table); err != nil {
		return nil, err
	}
	m.Weights = append(m.Weights, m.embed.Weight)
	linear := func(name string, out, in int, bias bool) (*model.LinearSlot, error) {
		return m.AddLinear(w, name, out, in, bias)
	}
	if cfg.HasPaddingIdx && (cfg.PaddingIdx < 0 || cfg.PaddingIdx >= cfg.Vocab) {
		return nil, fmt.Errorf("%s: padding index %d is outside the vocabulary [0, %d)", cfg.ModelType, cfg.PaddingIdx, cfg.Vocab)
	}
	norm := func(name string, d int) (*nn.RMSNorm, error) {
		wt, err := w.Get(name, d)
		if err != nil {
			return nil, err
		}
		n, err := nn.NewRMSNorm(name, wt, cfg.RMSNormEps)
		if err == nil {
			m.Weights = append(m.Weights, n.Weight)
		}
		return n, err
	}
	for i := 0; i < cfg.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		b := &block{heads: cfg.Heads, kvHeads: cfg.KVHeads, headDim: cfg.HeadDim}
		w.Skip(p + "self_attn.rotary_emb.inv_freq") // older exports save it; it is recomputed from rope_theta
		steps := []func() error{
			func() (err error) { b.inputNorm, err = norm(p+"input_layernorm.weight", d); return },
			func() (err error) { b.q, err = linear(p+"self_attn.q_proj", qd, d, cfg.QKVBias); return },
			func() (err error) { b.k, err = linear(p+"self_attn.k_proj", kvd, d, cfg.QKVBias); return },
			func() (err error) { b.v, err = linear(p+"self_attn.v_proj", kvd, d, cfg.QKVBias); return },
			func() (err error) { b.o, err = linear(p+"self_attn.o_proj", d, qd, cfg.OutBias); return },
			func() (err error) { b.postNorm, err = norm(p+"post_attention_layernorm.weight", d); return },
			func() (err error) { b.gate, err = linear(p+"mlp.gate_proj", cfg.Intermediate, d, cfg.MLPBias); return },
			func() (err error) { b.up, err = linear(p+"mlp.up_proj", cfg.Intermediate, d, cfg.MLPBias); return },
			func() (err error) { b.down, err = linear(p+"mlp.down_proj", d, cfg.Intermediate, cfg.MLPBias); return },
		}
		if cfg.QKNorm {
			// Checkpoint order: q_norm and k_norm follow o_proj in HF's
			// attention module.
			steps = append(steps[:5:5], append([]func() error{
				func() (err error) { b.qNorm, err = norm(p+"self_attn.q_norm.weight", cfg.HeadDim); return },
				func() (err error) { b.kNorm, err = norm(p+"self_attn.k_norm.weight", cfg.HeadDim); return },
			}, steps[5:]...)...)
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return nil, err
			}
		}
		if b.attn, err = nn.NewAttention(cfg.Heads, cfg.KVHeads, cfg.HeadDim); err != nil {
			return nil, err
		}
		b.attn.Window = cfg.SlidingWindow[i]
		m.blocks = append(m.blocks, b)
	}
	if m.norm, err = norm("model.norm.weight", d); err != nil {
		return nil, err
	}
	var tied *nn.Param
	if cfg.TieEmbeddings {
		tied = m.embed.Weight
	}
	if m.head, err = m.AddHead(w, tied, cfg.Vocab, d); err != nil {
		return nil, err
	}
	m.Description = model.Info{
		ModelType: cfg.ModelType, Layers: cfg.Layers, Hidden: d, Heads: cfg.Heads, KVHeads: cfg.KVHeads,
		HeadDim: cfg.HeadDim, Intermediate: cfg.Intermediate, Vocab: cfg.Vocab, MaxPositions: cfg.MaxPositions,
		TiedEmbeddings: cfg.TieEmbeddings, Parameters: model.CountParams(m.Weights), CheckpointDTypes: w.DTypes(),
	}
	return m, nil
}

// Forward returns logits [batch, seq, vocab].
func (m *Model) Forward(ids [][]int) (*tensor.Tensor, error) {
	// transformers computes RoPE for any position, so only the vocabulary
	// bounds the input.
	if err := model.CheckIDs(ids, m.cfg.Vocab, 0); err != nil {
		return nil, err
	}
	x := m.embed.Forward(model.Flatten(ids))
	return m.run(x.Reshape(len(ids), len(ids[0]), m.cfg.Hidden)), nil
}

// ForwardEmbeddings runs the model from input embeddings [batch, seq, hidden].
func (m *Model) ForwardEmbeddings(x *tensor.Tensor) (*tensor.Tensor, error) {
	if len(x.Shape) != 3 || x.Shape[2] != m.cfg.Hidden || x.Shape[0] == 0 || x.Shape[1] == 0 {
		return nil, fmt.Errorf("%s: input embeddings have shape %v, want [batch, seq, %d]", m.cfg.ModelType, x.Shape, m.cfg.Hidden)
	}
	m.embed.Forward(nil) // no ids: Backward must not scatter into the table
	return m.run(x), nil
}

func (m *Model) run(x *tensor.Tensor) *tensor.Tensor {
	logits := m.head.Layer.Forward(m.hidden(x))
	return logits.Reshape(m.batch, m.seq, m.cfg.Vocab)
}

// hidden runs the blocks and the final norm on x [batch, seq, hidden]:
// the output head's input, [batch·seq, hidden].
func (m *Model) hidden(x *tensor.Tensor) *tensor.Tensor {
	m.batch, m.seq = x.Shape[0], x.Shape[1]
	h := x.Reshape(m.batch*m.seq, m.cfg.Hidden)
	for _, b := range m.blocks {
		b.rope, b.batch, b.seq = m.rope, m.batch, m.seq
	}
	h = model.ForwardBlocks(m.blocks, h, m.checkpoint)
	return m.norm.Forward(h)
}

// Backward returns dL/d(input embeddings) [batch, seq, hidden].
func (m *Model) Backward(dlogits *tensor.Tensor) *tensor.Tensor {
	return m.backwardFromHead(m.head.Layer.Backward(dlogits.Reshape(m.batch*m.seq, m.cfg.Vocab)))
}

// backwardFromHead runs the backward pass below the output head from
// dL/d(head input), which it gives back to tensor's pool.
func (m *Model) backwardFromHead(dhead *tensor.Tensor) *tensor.Tensor {
	dh := m.norm.Backward(dhead)
	tensor.Put(dhead)
	dh = model.BackwardBlocks(m.blocks, dh, m.checkpoint)
	m.embedBackward(dh)
	return dh.Reshape(m.batch, m.seq, m.cfg.Hidden)
}

// embedBackward scatters dh into the embedding's gradient, leaving the
// padding row (Config.PaddingIdx) as it was: the lookup gives it nothing,
// while what the tied head added before stays.
func (m *Model) embedBackward(dh *tensor.Tensor) {
	g := m.embed.Weight.Grad
	if g == nil || !m.cfg.HasPaddingIdx {
		m.embed.Backward(dh)
		return
	}
	d := m.cfg.Hidden
	row := g.Data[m.cfg.PaddingIdx*d : (m.cfg.PaddingIdx+1)*d]
	keep := append([]float32(nil), row...)
	m.embed.Backward(dh)
	copy(row, keep)
}

// ForwardLoss runs the model and the loss without whole logits (see
// model.LossModel).
func (m *Model) ForwardLoss(ids [][]int, targets []int, rowScale float64, ce *nn.CrossEntropy) (float64, int, error) {
	if err := model.CheckIDs(ids, m.cfg.Vocab, 0); err != nil {
		return 0, 0, err
	}
	x := m.embed.Forward(model.Flatten(ids))
	h := m.hidden(x.Reshape(len(ids), len(ids[0]), m.cfg.Hidden))
	return m.loss.Run(m.head.Layer, h, m.cfg.Vocab, targets, rowScale, ce)
}

// BackwardLoss finishes ForwardLoss's backward pass (see model.LossModel).
func (m *Model) BackwardLoss() *tensor.Tensor { return m.backwardFromHead(m.loss.Take()) }

func (b *block) forward(x *tensor.Tensor, rope *nn.RoPE, batch, seq int) *tensor.Tensor {
	b.batch, b.seq = batch, seq
	n := batch * seq
	qd, kvd := b.heads*b.headDim, b.kvHeads*b.headDim
	h := b.inputNorm.Forward(x)
	b.qOut, b.kOut = b.normQK(b.q.Layer.Forward(h), b.k.Layer.Forward(h))
	b.vOut = b.v.Layer.Forward(h)
	rope.Apply(b.qOut.Data, 0, qd, n, seq, b.heads, false)
	rope.Apply(b.kOut.Data, 0, kvd, n, seq, b.kvHeads, false)
	b.att = tensor.Reuse(b.att, n, qd) // attention writes every element
	att := b.att
	b.attn.Forward(nn.Strided{Data: b.qOut.Data, Stride: qd}, nn.Strided{Data: b.kOut.Data, Stride: kvd},
		nn.Strided{Data: b.vOut.Data, Stride: kvd}, batch, seq, att.Data)
	x2 := b.o.Layer.Forward(att).AddInPlace(x)
	h2 := b.postNorm.Forward(x2)
	mlp := b.down.Layer.Forward(b.mlp.Forward(b.gate.Layer.Forward(h2), b.up.Layer.Forward(h2)))
	return mlp.AddInPlace(x2)
}

// backward returns dL/dx for the block's input given dL/dy. Every gradient
// a layer returns is dead once the next one is computed, so it goes back
// to tensor's pool there (dy is the caller's to give back).
func (b *block) backward(dy *tensor.Tensor, rope *nn.RoPE) *tensor.Tensor {
	n := b.batch * b.seq
	qd, kvd := b.heads*b.headDim, b.kvHeads*b.headDim
	ddown := b.down.Layer.Backward(dy)
	dgate, dup := b.mlp.Backward(ddown)
	tensor.Put(ddown)
	dh2, dupIn := b.gate.Layer.Backward(dgate), b.up.Layer.Backward(dup)
	dh2.AddInPlace(dupIn)
	tensor.Put(dgate, dup, dupIn)
	dx2 := b.postNorm.Backward(dh2).AddInPlace(dy)
	tensor.Put(dh2)
	datt := b.o.Layer.Backward(dx2)
	// Attention overwrites every element of dq, dk and dv.
	dq, dk, dv := tensor.Get(n, qd), tensor.Get(n, kvd), tensor.Get(n, kvd)
	b.attn.Backward(datt.Data, nn.Strided{Data: dq.Data, Stride: qd}, nn.Strided{Data: dk.Data, Stride: kvd},
		nn.Strided{Data: dv.Data, Stride: kvd})
	tensor.Put(datt)
	rope.Apply(dq.Data, 0, qd, n, b.seq, b.heads, true)
	rope.Apply(dk.Data, 0, kvd, n, b.seq, b.kvHeads, true)
	dq, dk = b.normQKBackward(dq, dk)
	dh := b.q.Layer.Backward(dq)
	dkIn, dvIn := b.k.Layer.Backward(dk), b.v.Layer.Backward(dv)
	dh.AddInPlace(dkIn).AddInPlace(dvIn)
	tensor.Put(dq, dk, dv, dkIn, dvIn)
	dx := b.inputNorm.Backward(dh).AddInPlace(dx2)
	tensor.Put(dh, dx2)
	return dx
}

// normQK applies the block's per-head query and key norms (Config.QKNorm)
// to the projections q [rows, heads·headDim] and k [rows,
// kvHeads·headDim] and returns their outputs, which RoPE may rotate in
// place; without the norms it returns q and k.
func (b *block) normQK(q, k *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor) {
	if b.qNorm == nil {
		return q, k
	}
	qd, kvd := b.heads*b.headDim, b.kvHeads*b.headDim
	rows := len(q.Data) / qd
	q = b.qNorm.Forward(q.Reshape(rows*b.heads, b.headDim)).Reshape(rows, qd)
	k = b.kNorm.Forward(k.Reshape(rows*b.kvHeads, b.headDim)).Reshape(rows, kvd)
	return q, k
}

// normQKBackward takes dL/d(normQK's outputs), which it gives back to
// tensor's pool, and returns dL/d(projections) from tensor.Get; without
// the norms it returns dq and dk.
func (b *block) normQKBackward(dq, dk *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor) {
	if b.qNorm == nil {
		return dq, dk
	}
	qd, kvd := b.heads*b.headDim, b.kvHeads*b.headDim
	rows := len(dq.Data) / qd
	dqIn := b.qNorm.Backward(dq.Reshape(rows*b.heads, b.headDim))
	dkIn := b.kNorm.Backward(dk.Reshape(rows*b.kvHeads, b.headDim))
	tensor.Put(dq, dk)
	dqIn.Shape, dkIn.Shape = []int{rows, qd}, []int{rows, kvd}
	return dqIn, dkIn
}

// Replica returns a replica of the model for data-parallel training (see
// model.Replicator): the same weights and adapters, its own activations
// and gradient buffers.
func (m *Model) Replica(r *nn.Replicas) (model.CausalLM, error) {
	parts, slotOf, err := m.ReplicateParts(r)
	if err != nil {
		return nil, err
	}
	out := &Model{Parts: parts, cfg: m.cfg, embed: m.embed.Replica(r), norm: m.norm.Replica(r),
		head: slotOf[m.head], rope: m.rope, checkpoint: m.checkpoint}
	for _, b := range m.blocks {
		out.blocks = append(out.blocks, &block{
			inputNorm: b.inputNorm.Replica(r), postNorm: b.postNorm.Replica(r),
			q: slotOf[b.q], k: slotOf[b.k], v: slotOf[b.v], o: slotOf[b.o],
			gate: slotOf[b.gate], up: slotOf[b.up], down: slotOf[b.down],
			attn: b.attn.Replica(), heads: b.heads, kvHeads: b.kvHeads, headDim: b.headDim,
		})
		if b.qNorm != nil {
			rb := out.blocks[len(out.blocks)-1]
			rb.qNorm, rb.kNorm = b.qNorm.Replica(r), b.kNorm.Replica(r)
		}
	}
	return out, nil
}
