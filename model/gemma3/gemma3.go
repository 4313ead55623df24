package gemma3

import (
	"fmt"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

func init() { model.Register(ModelType, build) }

// Model is a Gemma 3 text causal LM (transformers' Gemma3ForCausalLM).
type Model struct {
	model.Parts
	cfg     *Config
	embed   *nn.Embedding
	blocks  []*block
	norm    *nn.RMSNorm
	head    *model.LinearSlot
	softcap *nn.Softcap // nil without final_logit_softcapping

	ids        []int // the last Forward's ids, row after row; nil after ForwardEmbeddings
	batch, seq int
	checkpoint bool
	loss       model.HeadLossPass // between ForwardLoss and BackwardLoss
}

// block is one decoder layer:
//
//	h += post_attention_layernorm(o_proj(attn(input_layernorm(h))))
//	h += post_feedforward_layernorm(down(gelu(gate(x)) · up(x))), x = pre_feedforward_layernorm(h)
//
// with q and k normalised per head (q_norm, k_norm) before RoPE.
type block struct {
	inputNorm, postAttnNorm, preFFNorm, postFFNorm *nn.RMSNorm
	qNorm, kNorm                                   *nn.RMSNorm
	q, k, v, o, gate, up, down                     *model.LinearSlot
	attn                                           *nn.Attention
	mlp                                            nn.GeGLU
	rope                                           *nn.RoPE // the layer type's: local (sliding) or global

	qOut, kOut, vOut                    *tensor.Tensor // after the norms and RoPE, kept for attention backward
	att                                 *tensor.Tensor // attention output, reused between steps
	heads, kvHeads, headDim, batch, seq int
	saved                               model.BlockCheckpoint
}

// Forward runs the block for the pass the model set up (model.Block).
func (b *block) Forward(x *tensor.Tensor) *tensor.Tensor { return b.forward(x, b.batch, b.seq) }

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
	nn.Release(b.inputNorm, b.postAttnNorm, b.preFFNorm, b.postFFNorm, b.qNorm, b.kNorm, b.attn, &b.mlp)
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

// Config returns the parsed config the model was built from.
func (m *Model) Config() *Config { return m.cfg }

func build(c *model.Config, w *model.Weights) (model.CausalLM, error) {
	cfg, err := parseConfig(c, w)
	if err != nil {
		return nil, err
	}
	return New(cfg, w)
}

// New builds a model from a parsed config and weights (a checkpoint's, or
// drawn by model.NewInitialized), asking w for every tensor by its
// transformers name.
func New(cfg *Config, w *model.Weights) (*Model, error) {
	m := &Model{cfg: cfg}
	d, qd, kvd := cfg.Hidden, cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim
	global := &nn.RoPE{HeadDim: cfg.HeadDim, InvFreq: cfg.GlobalInvFreq}
	local := &nn.RoPE{HeadDim: cfg.HeadDim, InvFreq: cfg.LocalInvFreq}
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
	norm := func(name string, dim int) (*nn.RMSNorm, error) {
		wt, err := w.Get(name, dim)
		if err != nil {
			return nil, err
		}
		n, err := nn.NewRMSNorm(name, wt, cfg.RMSNormEps)
		if err != nil {
			return nil, err
		}
		n.Offset = 1 // the stored weight is the gain's offset from 1
		m.Weights = append(m.Weights, n.Weight)
		return n, nil
	}
	for i := 0; i < cfg.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		b := &block{heads: cfg.Heads, kvHeads: cfg.KVHeads, headDim: cfg.HeadDim, rope: global, mlp: nn.GeGLU{Kind: cfg.GELU}}
		if cfg.Sliding(i) {
			b.rope = local
		}
		bias := cfg.AttentionBias
		// Checkpoint order: attention, MLP, then the four norms.
		steps := []func() error{
			func() (err error) { b.q, err = linear(p+"self_attn.q_proj", qd, d, bias); return },
			func() (err error) { b.k, err = linear(p+"self_attn.k_proj", kvd, d, bias); return },
			func() (err error) { b.v, err = linear(p+"self_attn.v_proj", kvd, d, bias); return },
			func() (err error) { b.o, err = linear(p+"self_attn.o_proj", d, qd, bias); return },
			func() (err error) { b.qNorm, err = norm(p+"self_attn.q_norm.weight", cfg.HeadDim); return },
			func() (err error) { b.kNorm, err = norm(p+"self_attn.k_norm.weight", cfg.HeadDim); return },
			func() (err error) { b.gate, err = linear(p+"mlp.gate_proj", cfg.Intermediate, d, false); return },
			func() (err error) { b.up, err = linear(p+"mlp.up_proj", cfg.Intermediate, d, false); return },
			func() (err error) { b.down, err = linear(p+"mlp.down_proj", d, cfg.Intermediate, false); return },
			func() (err error) { b.inputNorm, err = norm(p+"input_layernorm.weight", d); return },
			func() (err error) { b.postAttnNorm, err = norm(p+"post_attention_layernorm.weight", d); return },
			func() (err error) { b.preFFNorm, err = norm(p+"pre_feedforward_layernorm.weight", d); return },
			func() (err error) { b.postFFNorm, err = norm(p+"post_feedforward_layernorm.weight", d); return },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return nil, err
			}
		}
		if b.attn, err = nn.NewAttention(cfg.Heads, cfg.KVHeads, cfg.HeadDim); err != nil {
			return nil, err
		}
		b.attn.Scale = float32(cfg.AttnScale)
		if cfg.Sliding(i) {
			b.attn.Window = cfg.SlidingWindow
		}
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
	if cfg.FinalSoftcap > 0 {
		if m.softcap, err = nn.NewSoftcap(cfg.FinalSoftcap); err != nil {
			return nil, err
		}
	}
	m.Description = model.Info{
		ModelType: ModelType, Layers: cfg.Layers, Hidden: d, Heads: cfg.Heads, KVHeads: cfg.KVHeads,
		HeadDim: cfg.HeadDim, Intermediate: cfg.Intermediate, Vocab: cfg.Vocab, MaxPositions: cfg.MaxPositions,
		TiedEmbeddings: cfg.TieEmbeddings, Parameters: model.CountParams(m.Weights), CheckpointDTypes: w.DTypes(),
	}
	return m, nil
}

// cappedHead is the output head followed by the logit soft-cap, as one
// layer (for model.HeadLoss).
type cappedHead struct {
	head nn.Layer
	cap  *nn.Softcap
}

func (h cappedHead) Forward(x *tensor.Tensor) *tensor.Tensor { return h.cap.Forward(h.head.Forward(x)) }

func (h cappedHead) Backward(dy *tensor.Tensor) *tensor.Tensor {
	d := h.cap.Backward(dy)
	dx := h.head.Backward(d)
	tensor.Put(d)
	return dx
}

// headLayer returns what turns the final norm's output into logits: the
// head's slot layer, soft-capped when the config asks for it.
func (m *Model) headLayer() nn.Layer {
	if m.softcap == nil {
		return m.head.Layer
	}
	return cappedHead{m.head.Layer, m.softcap}
}

// embedIDs looks up ids and scales the rows by EmbedScale: the first
// block's input, [rows, hidden].
func (m *Model) embedIDs(flat []int) *tensor.Tensor {
	x := m.embed.Forward(flat) // the layer's own buffer, ours to modify until its next Forward
	s := m.cfg.EmbedScale
	for i := range x.Data {
		x.Data[i] *= s
	}
	return x
}

// Forward returns logits [batch, seq, vocab]. transformers computes RoPE
// for any position, so only the vocabulary bounds the input.
func (m *Model) Forward(ids [][]int) (*tensor.Tensor, error) {
	if err := model.CheckIDs(ids, m.cfg.Vocab, 0); err != nil {
		return nil, err
	}
	m.ids = model.Flatten(ids)
	x := m.embedIDs(m.ids)
	return m.run(x.Reshape(len(ids), len(ids[0]), m.cfg.Hidden)), nil
}

// ForwardEmbeddings runs the model from input embeddings [batch, seq,
// hidden], taken as the first block's input: transformers' inputs_embeds,
// which Gemma 3 does not scale (the scale belongs to the embedding layer).
func (m *Model) ForwardEmbeddings(x *tensor.Tensor) (*tensor.Tensor, error) {
	if len(x.Shape) != 3 || x.Shape[2] != m.cfg.Hidden || x.Shape[0] == 0 || x.Shape[1] == 0 {
		return nil, fmt.Errorf("%s: input embeddings have shape %v, want [batch, seq, %d]", ModelType, x.Shape, m.cfg.Hidden)
	}
	m.ids = nil
	m.embed.Forward(nil) // no ids: Backward must not scatter into the table
	return m.run(x), nil
}

func (m *Model) run(x *tensor.Tensor) *tensor.Tensor {
	logits := m.headLayer().Forward(m.hidden(x))
	return logits.Reshape(m.batch, m.seq, m.cfg.Vocab)
}

// hidden runs the blocks and the final norm on x [batch, seq, hidden]:
// the output head's input, [batch·seq, hidden].
func (m *Model) hidden(x *tensor.Tensor) *tensor.Tensor {
	m.batch, m.seq = x.Shape[0], x.Shape[1]
	h := x.Reshape(m.batch*m.seq, m.cfg.Hidden)
	for _, b := range m.blocks {
		b.batch, b.seq = m.batch, m.seq
	}
	h = model.ForwardBlocks(m.blocks, h, m.checkpoint)
	return m.norm.Forward(h)
}

// Backward takes dL/dlogits and returns dL/d(input embeddings) [batch,
// seq, hidden]: the gradient with respect to the first block's input (the
// scaled embeddings).
func (m *Model) Backward(dlogits *tensor.Tensor) *tensor.Tensor {
	return m.backwardFromHead(m.headLayer().Backward(dlogits.Reshape(m.batch*m.seq, m.cfg.Vocab)))
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

// embedBackward scatters EmbedScale·dh into the embedding table's
// gradient, when it trains, for every looked-up row but the padding row
// (torch's padding_idx: its lookups contribute nothing; a tied head still
// adds its part).
func (m *Model) embedBackward(dh *tensor.Tensor) {
	if m.embed.Weight.Grad == nil || m.ids == nil {
		return
	}
	d := m.cfg.Hidden
	scaled := tensor.Get(dh.Shape...)
	s := m.cfg.EmbedScale
	for i, id := range m.ids {
		row, src := scaled.Data[i*d:(i+1)*d], dh.Data[i*d:(i+1)*d]
		if id == m.cfg.PadToken {
			clear(row)
			continue
		}
		for j, v := range src {
			row[j] = s * v
		}
	}
	m.embed.Backward(scaled)
	tensor.Put(scaled)
}

// ForwardLoss runs the model and the loss without whole logits (see
// model.LossModel); the loss is on the soft-capped logits.
func (m *Model) ForwardLoss(ids [][]int, targets []int, rowScale float64, ce *nn.CrossEntropy) (float64, int, error) {
	if err := model.CheckIDs(ids, m.cfg.Vocab, 0); err != nil {
		return 0, 0, err
	}
	m.ids = model.Flatten(ids)
	x := m.embedIDs(m.ids)
	h := m.hidden(x.Reshape(len(ids), len(ids[0]), m.cfg.Hidden))
	return m.loss.Run(m.headLayer(), h, m.cfg.Vocab, targets, rowScale, ce)
}

// BackwardLoss finishes ForwardLoss's backward pass (see model.LossModel).
func (m *Model) BackwardLoss() *tensor.Tensor { return m.backwardFromHead(m.loss.Take()) }

// project runs q_proj, k_proj, v_proj on h (rows × hidden), the per-head
// q/k norms, and RoPE at positions start + (row mod seq): q and k as
// attention reads them, and v.
func (b *block) project(h *tensor.Tensor, rows, seq, start int) (q, k, v *tensor.Tensor) {
	qd, kvd := b.heads*b.headDim, b.kvHeads*b.headDim
	q = b.qNorm.Forward(b.q.Layer.Forward(h).Reshape(rows*b.heads, b.headDim)).Reshape(rows, qd)
	k = b.kNorm.Forward(b.k.Layer.Forward(h).Reshape(rows*b.kvHeads, b.headDim)).Reshape(rows, kvd)
	v = b.v.Layer.Forward(h)
	b.rope.ApplyAt(q.Data, 0, qd, rows, seq, start, b.heads, false)
	b.rope.ApplyAt(k.Data, 0, kvd, rows, seq, start, b.kvHeads, false)
	return q, k, v
}

// mlpBranch returns x2 + post_feedforward_layernorm(MLP(pre_feedforward_layernorm(x2))).
func (b *block) mlpBranch(x2 *tensor.Tensor) *tensor.Tensor {
	h2 := b.preFFNorm.Forward(x2)
	mlp := b.down.Layer.Forward(b.mlp.Forward(b.gate.Layer.Forward(h2), b.up.Layer.Forward(h2)))
	return b.postFFNorm.Forward(mlp).AddInPlace(x2)
}

func (b *block) forward(x *tensor.Tensor, batch, seq int) *tensor.Tensor {
	b.batch, b.seq = batch, seq
	n := batch * seq
	qd, kvd := b.heads*b.headDim, b.kvHeads*b.headDim
	b.qOut, b.kOut, b.vOut = b.project(b.inputNorm.Forward(x), n, seq, 0)
	b.att = tensor.Reuse(b.att, n, qd) // attention writes every element
	b.attn.Forward(nn.Strided{Data: b.qOut.Data, Stride: qd}, nn.Strided{Data: b.kOut.Data, Stride: kvd},
		nn.Strided{Data: b.vOut.Data, Stride: kvd}, batch, seq, b.att.Data)
	// The norms' outputs are theirs to reuse and not read by their
	// backward, so the residual adds go into them.
	x2 := b.postAttnNorm.Forward(b.o.Layer.Forward(b.att)).AddInPlace(x)
	return b.mlpBranch(x2)
}

// Backward returns dL/dx for the block's input given dL/dy (model.Block).
// Every gradient a layer returns is dead once the next one is computed, so
// it goes back to tensor's pool there (dy is the caller's to give back).
func (b *block) Backward(dy *tensor.Tensor) *tensor.Tensor {
	n := b.batch * b.seq
	qd, kvd := b.heads*b.headDim, b.kvHeads*b.headDim
	dmlp := b.postFFNorm.Backward(dy)
	ddown := b.down.Layer.Backward(dmlp)
	tensor.Put(dmlp)
	dgate, dup := b.mlp.Backward(ddown)
	tensor.Put(ddown)
	dh2, dupIn := b.gate.Layer.Backward(dgate), b.up.Layer.Backward(dup)
	dh2.AddInPlace(dupIn)
	tensor.Put(dgate, dup, dupIn)
	dx2 := b.preFFNorm.Backward(dh2).AddInPlace(dy)
	tensor.Put(dh2)
	do := b.postAttnNorm.Backward(dx2)
	datt := b.o.Layer.Backward(do)
	tensor.Put(do)
	// Attention overwrites every element of dq, dk and dv.
	dq, dk, dv := tensor.Get(n, qd), tensor.Get(n, kvd), tensor.Get(n, kvd)
	b.attn.Backward(datt.Data, nn.Strided{Data: dq.Data, Stride: qd}, nn.Strided{Data: dk.Data, Stride: kvd},
		nn.Strided{Data: dv.Data, Stride: kvd})
	tensor.Put(datt)
	b.rope.Apply(dq.Data, 0, qd, n, b.seq, b.heads, true)
	b.rope.Apply(dk.Data, 0, kvd, n, b.seq, b.kvHeads, true)
	dqp := b.qNorm.Backward(dq.Reshape(n*b.heads, b.headDim))
	dkp := b.kNorm.Backward(dk.Reshape(n*b.kvHeads, b.headDim))
	tensor.Put(dq, dk)
	dh := b.q.Layer.Backward(dqp.Reshape(n, qd))
	dkIn, dvIn := b.k.Layer.Backward(dkp.Reshape(n, kvd)), b.v.Layer.Backward(dv)
	dh.AddInPlace(dkIn).AddInPlace(dvIn)
	tensor.Put(dqp, dkp, dv, dkIn, dvIn)
	dx := b.inputNorm.Backward(dh).AddInPlace(dx2)
	tensor.Put(dh, dx2)
	return dx
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
		head: slotOf[m.head], checkpoint: m.checkpoint}
	if m.softcap != nil {
		out.softcap = &nn.Softcap{Cap: m.softcap.Cap}
	}
	for _, b := range m.blocks {
		out.blocks = append(out.blocks, &block{
			inputNorm: b.inputNorm.Replica(r), postAttnNorm: b.postAttnNorm.Replica(r),
			preFFNorm: b.preFFNorm.Replica(r), postFFNorm: b.postFFNorm.Replica(r),
			qNorm: b.qNorm.Replica(r), kNorm: b.kNorm.Replica(r),
			q: slotOf[b.q], k: slotOf[b.k], v: slotOf[b.v], o: slotOf[b.o],
			gate: slotOf[b.gate], up: slotOf[b.up], down: slotOf[b.down],
			attn: b.attn.Replica(), mlp: nn.GeGLU{Kind: b.mlp.Kind}, rope: b.rope,
			heads: b.heads, kvHeads: b.kvHeads, headDim: b.headDim,
		})
	}
	return out, nil
}
