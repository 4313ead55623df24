package gpt2

import (
	"fmt"
	"math"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

func init() { model.Register("gpt2", build) }

// Config holds the config.json fields GPT-2 uses.
type Config struct {
	Hidden, Heads, Layers, Inner, Vocab, Positions int
	LayerNormEps                                   float64
	Activation                                     nn.GELUKind
	ScaleAttnWeights                               bool
	ScaleByInverseLayerIdx                         bool
	TieEmbeddings                                  bool
}

// ParseConfig reads and checks a GPT-2 config.json.
func ParseConfig(c *model.Config) (*Config, error) {
	var cfg Config
	var err error
	for _, f := range []struct {
		dst   *int
		field string
	}{{&cfg.Hidden, "n_embd"}, {&cfg.Heads, "n_head"}, {&cfg.Layers, "n_layer"}, {&cfg.Vocab, "vocab_size"}, {&cfg.Positions, "n_positions"}} {
		if *f.dst, err = c.Int(f.field); err != nil {
			return nil, err
		}
	}
	if cfg.Hidden%cfg.Heads != 0 {
		return nil, fmt.Errorf("%s: field \"n_head\": %d does not divide n_embd %d", c.Path, cfg.Heads, cfg.Hidden)
	}
	if cfg.Inner, err = c.IntOr("n_inner", 4*cfg.Hidden); err != nil {
		return nil, err
	}
	if err := checkSizes(c, &cfg); err != nil {
		return nil, err
	}
	if cfg.LayerNormEps, err = c.PositiveFloatOr("layer_norm_epsilon", 1e-5); err != nil {
		return nil, err
	}
	act, err := c.StringOr("activation_function", "gelu_new")
	if err != nil {
		return nil, err
	}
	switch act {
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		cfg.Activation = nn.GELUTanh
	case "gelu":
		cfg.Activation = nn.GELUExact
	default:
		return nil, fmt.Errorf("%s: field \"activation_function\": %q is not supported (supported: gelu_new, gelu_pytorch_tanh, gelu_fast, gelu)", c.Path, act)
	}
	if cfg.ScaleAttnWeights, err = c.BoolOr("scale_attn_weights", true); err != nil {
		return nil, err
	}
	if cfg.ScaleByInverseLayerIdx, err = c.BoolOr("scale_attn_by_inverse_layer_idx", false); err != nil {
		return nil, err
	}
	if cfg.TieEmbeddings, err = c.BoolOr("tie_word_embeddings", true); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// checkSizes refuses, from config arithmetic alone, sizes no tensor could
// have: none may exceed model.MaxTensorElements nor the blocks
// model.MaxParameters.
func checkSizes(c *model.Config, cfg *Config) error {
	d := model.Dim{Field: "n_embd", N: cfg.Hidden}
	inner := []model.Dim{{Field: "n_inner", N: cfg.Inner}}
	if !c.Has("n_inner") {
		inner = []model.Dim{{N: 4}, d}
	}
	for _, t := range []struct {
		name string
		dims []model.Dim
	}{
		{"transformer.wte.weight", []model.Dim{{Field: "vocab_size", N: cfg.Vocab}, d}},
		{"transformer.wpe.weight", []model.Dim{{Field: "n_positions", N: cfg.Positions}, d}},
		{"transformer.h.0.attn.c_attn.weight", []model.Dim{d, {N: 3}, d}},
		{"transformer.h.0.mlp.c_fc.weight", append([]model.Dim{d}, inner...)},
	} {
		if _, err := c.Elements(t.name, model.MaxTensorElements, t.dims...); err != nil {
			return err
		}
	}
	// Each product is at most a checked tensor's element count, so the sum
	// cannot overflow.
	h, in := cfg.Hidden, cfg.Inner
	perLayer := 4*h + (h+1)*3*h + (h+1)*h + (h+1)*in + (in+1)*h // layer norms, attention, MLP
	_, err := c.Elements("the blocks", model.MaxParameters, model.Dim{Field: "n_layer", N: cfg.Layers}, model.Dim{N: perLayer})
	return err
}

// checkCheckpoint checks, before any tensor is read, that the checkpoint
// holds the shapes the config's sizes imply, naming the fields of any
// it contradicts.
func checkCheckpoint(c *model.Config, cfg *Config, w *model.Weights) error {
	prefix := prefixOf(w)
	d := cfg.Hidden
	for _, t := range []struct {
		name   string
		fields []string
		shape  []int
	}{
		{"wte.weight", []string{"vocab_size", "n_embd"}, []int{cfg.Vocab, d}},
		{"wpe.weight", []string{"n_positions", "n_embd"}, []int{cfg.Positions, d}},
		{"h.0.attn.c_attn.weight", []string{"n_embd"}, []int{d, 3 * d}},
		{"h.0.mlp.c_fc.weight", []string{"n_embd", "n_inner"}, []int{d, cfg.Inner}},
		{fmt.Sprintf("h.%d.ln_1.weight", cfg.Layers-1), []string{"n_layer", "n_embd"}, []int{d}},
	} {
		if err := w.CheckShape(c, t.fields, prefix+t.name, t.shape...); err != nil {
			return err
		}
	}
	return nil
}

// prefixOf returns the prefix of w's tensor names. Checkpoints saved from
// GPT2LMHeadModel carry "transformer."; the original OpenAI conversions
// (GPT2Model) do not.
func prefixOf(w *model.Weights) string {
	if !w.Has("transformer.wte.weight") && w.Has("wte.weight") {
		return ""
	}
	return "transformer."
}

// Model is GPT2LMHeadModel.
type Model struct {
	model.Parts
	cfg    *Config
	wte    *nn.Embedding
	wpe    *nn.Embedding
	blocks []*block
	lnF    *nn.LayerNorm
	head   *model.LinearSlot

	batch, seq int
	checkpoint bool
	loss       model.HeadLossPass // between ForwardLoss and BackwardLoss
}

type block struct {
	ln1, ln2                  *nn.LayerNorm
	cAttn, cProj, cFC, mlpOut *model.LinearSlot
	attn                      *nn.Attention
	act                       nn.GELU
	qkv, att                  *tensor.Tensor // att: attention output, reused between steps
	hidden, batch, seq        int
	saved                     model.BlockCheckpoint
}

// Forward runs the block for the pass the model set up (model.Block).
func (b *block) Forward(x *tensor.Tensor) *tensor.Tensor { return b.forward(x, b.batch, b.seq) }

// Backward differentiates the block's last Forward (model.Block).
func (b *block) Backward(dy *tensor.Tensor) *tensor.Tensor { return b.backward(dy) }

// Checkpoint returns the block's checkpoint (model.Block).
func (b *block) Checkpoint() *model.BlockCheckpoint { return &b.saved }

// Slots lists the block's linear layers (model.Block).
func (b *block) Slots() []*model.LinearSlot {
	return []*model.LinearSlot{b.cAttn, b.cProj, b.cFC, b.mlpOut}
}

// Release drops every activation the block keeps for backward
// (model.Block).
func (b *block) Release() {
	tensor.Put(b.att)
	b.qkv, b.att = nil, nil
	nn.Release(b.ln1, b.ln2, b.attn, &b.act)
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

func build(c *model.Config, w *model.Weights) (model.CausalLM, error) {
	cfg, err := ParseConfig(c)
	if err != nil {
		return nil, err
	}
	if err := checkCheckpoint(c, cfg, w); err != nil {
		return nil, err
	}
	return New(cfg, w)
}

// New builds GPT-2 from a parsed config and checkpoint weights.
func New(cfg *Config, w *model.Weights) (*Model, error) {
	prefix := prefixOf(w)
	m := &Model{cfg: cfg}
	d := cfg.Hidden
	get := func(name string, shape ...int) (*tensor.Tensor, error) { return w.Get(prefix+name, shape...) }
	emb := func(name string, rows int) (*nn.Embedding, error) {
		t, err := get(name, rows, d)
		if err != nil {
			return nil, err
		}
		e, err := nn.NewEmbedding("transformer."+name, t)
		if err == nil {
			m.Weights = append(m.Weights, e.Weight)
		}
		return e, err
	}
	ln := func(name string) (*nn.LayerNorm, error) {
		wt, err := get(name+".weight", d)
		if err != nil {
			return nil, err
		}
		bt, err := get(name+".bias", d)
		if err != nil {
			return nil, err
		}
		l, err := nn.NewLayerNorm("transformer."+name, wt, bt, cfg.LayerNormEps)
		if err == nil {
			m.Weights = append(m.Weights, l.Weight, l.Bias)
		}
		return l, err
	}
	conv := func(name string, in, out int) (*model.LinearSlot, error) {
		wt, err := get(name+".weight", in, out)
		if err != nil {
			return nil, err
		}
		bt, err := get(name+".bias", out)
		if err != nil {
			return nil, err
		}
		l, err := nn.NewLinear("transformer."+name, wt, bt, true)
		if err != nil {
			return nil, err
		}
		m.Weights = append(m.Weights, l.Weight, l.Bias)
		s := model.NewSlot(l)
		m.Slots = append(m.Slots, s)
		return s, nil
	}
	var err error
	if m.wte, err = emb("wte.weight", cfg.Vocab); err != nil {
		return nil, err
	}
	if m.wpe, err = emb("wpe.weight", cfg.Positions); err != nil {
		return nil, err
	}
	for i := 0; i < cfg.Layers; i++ {
		p := fmt.Sprintf("h.%d.", i)
		w.Skip(prefix + p + "attn.bias")
		w.Skip(prefix + p + "attn.masked_bias")
		b := &block{hidden: d}
		steps := []func() error{
			func() (err error) { b.ln1, err = ln(p + "ln_1"); return },
			func() (err error) { b.cAttn, err = conv(p+"attn.c_attn", d, 3*d); return },
			func() (err error) { b.cProj, err = conv(p+"attn.c_proj", d, d); return },
			func() (err error) { b.ln2, err = ln(p + "ln_2"); return },
			func() (err error) { b.cFC, err = conv(p+"mlp.c_fc", d, cfg.Inner); return },
			func() (err error) { b.mlpOut, err = conv(p+"mlp.c_proj", cfg.Inner, d); return },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return nil, err
			}
		}
		if b.attn, err = nn.NewAttention(cfg.Heads, cfg.Heads, d/cfg.Heads); err != nil {
			return nil, err
		}
		scale := 1.0
		if cfg.ScaleAttnWeights {
			scale /= math.Sqrt(float64(d / cfg.Heads))
		}
		if cfg.ScaleByInverseLayerIdx {
			scale /= float64(i + 1)
		}
		b.attn.Scale = float32(scale)
		b.act.Kind = cfg.Activation
		m.blocks = append(m.blocks, b)
	}
	if m.lnF, err = ln("ln_f"); err != nil {
		return nil, err
	}
	headW := m.wte.Weight
	if cfg.TieEmbeddings {
		w.Skip("lm_head.weight")
	} else {
		t, err := w.Get("lm_head.weight", cfg.Vocab, d)
		if err != nil {
			return nil, err
		}
		headW = nn.NewParam("lm_head.weight", t)
		m.Weights = append(m.Weights, headW)
	}
	m.head = model.NewSlot(&nn.Linear{Name: "lm_head", In: d, Out: cfg.Vocab, Weight: headW})
	m.head.Head = true
	m.head.Base.FreshOutput = true // the logits, which callers keep
	m.Slots = append(m.Slots, m.head)
	m.Description = model.Info{
		ModelType: "gpt2", Layers: cfg.Layers, Hidden: d, Heads: cfg.Heads, KVHeads: cfg.Heads,
		HeadDim: d / cfg.Heads, Intermediate: cfg.Inner, Vocab: cfg.Vocab, MaxPositions: cfg.Positions,
		TiedEmbeddings: cfg.TieEmbeddings, Parameters: model.CountParams(m.Weights), CheckpointDTypes: w.DTypes(),
	}
	return m, nil
}

// Forward returns logits [batch, seq, vocab]; rows may not exceed
// n_positions tokens.
func (m *Model) Forward(ids [][]int) (*tensor.Tensor, error) {
	if err := model.CheckIDs(ids, m.cfg.Vocab, m.cfg.Positions); err != nil {
		return nil, err
	}
	x := m.wte.Forward(model.Flatten(ids))
	return m.run(x.Reshape(len(ids), len(ids[0]), m.cfg.Hidden))
}

// ForwardEmbeddings runs the model from token embeddings [batch, seq,
// hidden]; position embeddings are added as in transformers.
func (m *Model) ForwardEmbeddings(x *tensor.Tensor) (*tensor.Tensor, error) {
	if len(x.Shape) != 3 || x.Shape[2] != m.cfg.Hidden || x.Shape[0] == 0 || x.Shape[1] == 0 {
		return nil, fmt.Errorf("gpt2: input embeddings have shape %v, want [batch, seq, %d]", x.Shape, m.cfg.Hidden)
	}
	if x.Shape[1] > m.cfg.Positions {
		return nil, fmt.Errorf("gpt2: %d positions, more than n_positions %d", x.Shape[1], m.cfg.Positions)
	}
	m.wte.Forward(nil)
	return m.run(x.Clone())
}

func (m *Model) run(x *tensor.Tensor) (*tensor.Tensor, error) {
	logits := m.head.Layer.Forward(m.hidden(x))
	return logits.Reshape(m.batch, m.seq, m.cfg.Vocab), nil
}

// hidden runs the position embeddings, the blocks and the final norm on x
// [batch, seq, hidden]: the output head's input, [batch·seq, hidden].
func (m *Model) hidden(x *tensor.Tensor) *tensor.Tensor {
	m.batch, m.seq = x.Shape[0], x.Shape[1]
	d := m.cfg.Hidden
	positions := make([]int, m.batch*m.seq)
	for i := range positions {
		positions[i] = i % m.seq
	}
	h := x.Reshape(m.batch*m.seq, d).AddInPlace(m.wpe.Forward(positions))
	for _, b := range m.blocks {
		b.batch, b.seq = m.batch, m.seq
	}
	h = model.ForwardBlocks(m.blocks, h, m.checkpoint)
	return m.lnF.Forward(h)
}

// Backward returns dL/d(token embeddings) [batch, seq, hidden].
func (m *Model) Backward(dlogits *tensor.Tensor) *tensor.Tensor {
	return m.backwardFromHead(m.head.Layer.Backward(dlogits.Reshape(m.batch*m.seq, m.cfg.Vocab)))
}

// ForwardLoss runs the model and the loss without whole logits (see
// model.LossModel).
func (m *Model) ForwardLoss(ids [][]int, targets []int, rowScale float64, ce *nn.CrossEntropy) (float64, int, error) {
	if err := model.CheckIDs(ids, m.cfg.Vocab, m.cfg.Positions); err != nil {
		return 0, 0, err
	}
	x := m.wte.Forward(model.Flatten(ids))
	h := m.hidden(x.Reshape(len(ids), len(ids[0]), m.cfg.Hidden))
	return m.loss.Run(m.head.Layer, h, m.cfg.Vocab, targets, rowScale, ce)
}

// BackwardLoss finishes ForwardLoss's backward pass (see model.LossModel).
func (m *Model) BackwardLoss() *tensor.Tensor { return m.backwardFromHead(m.loss.Take()) }

// backwardFromHead runs the backward pass below the output head from
// dL/d(head input), which it gives back to tensor's pool.
func (m *Model) backwardFromHead(dhead *tensor.Tensor) *tensor.Tensor {
	dh := m.lnF.Backward(dhead)
	tensor.Put(dhead)
	dh = model.BackwardBlocks(m.blocks, dh, m.checkpoint)
	m.wpe.Backward(dh)
	m.wte.Backward(dh)
	return dh.Reshape(m.batch, m.seq, m.cfg.Hidden)
}

func (b *block) forward(x *tensor.Tensor, batch, seq int) *tensor.Tensor {
	b.batch, b.seq = batch, seq
	d := b.hidden
	b.qkv = b.cAttn.Layer.Forward(b.ln1.Forward(x))
	b.att = tensor.Reuse(b.att, batch*seq, d) // attention writes every element
	att := b.att
	b.attn.Forward(nn.Strided{Data: b.qkv.Data, Offset: 0, Stride: 3 * d}, nn.Strided{Data: b.qkv.Data, Offset: d, Stride: 3 * d},
		nn.Strided{Data: b.qkv.Data, Offset: 2 * d, Stride: 3 * d}, batch, seq, att.Data)
	x2 := b.cProj.Layer.Forward(att).AddInPlace(x)
	mlp := b.mlpOut.Layer.Forward(b.act.Forward(b.cFC.Layer.Forward(b.ln2.Forward(x2))))
	return mlp.AddInPlace(x2)
}

// backward returns dL/dx for the block's input given dL/dy, giving each
// intermediate gradient back to tensor's pool once used (dy is the
// caller's to give back).
func (b *block) backward(dy *tensor.Tensor) *tensor.Tensor {
	d := b.hidden
	dmlp := b.mlpOut.Layer.Backward(dy)
	dact := b.act.Backward(dmlp)
	dh2 := b.cFC.Layer.Backward(dact)
	tensor.Put(dmlp, dact)
	dx2 := b.ln2.Backward(dh2).AddInPlace(dy)
	tensor.Put(dh2)
	datt := b.cProj.Layer.Backward(dx2)
	dqkv := tensor.Get(b.batch*b.seq, 3*d) // attention overwrites every element
	b.attn.Backward(datt.Data, nn.Strided{Data: dqkv.Data, Offset: 0, Stride: 3 * d}, nn.Strided{Data: dqkv.Data, Offset: d, Stride: 3 * d},
		nn.Strided{Data: dqkv.Data, Offset: 2 * d, Stride: 3 * d})
	tensor.Put(datt)
	dln1 := b.cAttn.Layer.Backward(dqkv)
	dx := b.ln1.Backward(dln1).AddInPlace(dx2)
	tensor.Put(dqkv, dln1, dx2)
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
	out := &Model{Parts: parts, cfg: m.cfg, wte: m.wte.Replica(r), wpe: m.wpe.Replica(r), lnF: m.lnF.Replica(r),
		head: slotOf[m.head], checkpoint: m.checkpoint}
	for _, b := range m.blocks {
		out.blocks = append(out.blocks, &block{
			ln1: b.ln1.Replica(r), ln2: b.ln2.Replica(r),
			cAttn: slotOf[b.cAttn], cProj: slotOf[b.cProj], cFC: slotOf[b.cFC], mlpOut: slotOf[b.mlpOut],
			attn: b.attn.Replica(), act: nn.GELU{Kind: b.act.Kind}, hidden: b.hidden,
		})
	}
	return out, nil
}
