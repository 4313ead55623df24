package peft

import (
	"fmt"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

// KeyPrefix starts every tensor key in adapter_model.safetensors.
const KeyPrefix = "base_model.model."

// Layer is one adapted linear layer: the contract every method's layer
// implements, asserted at compile time in each method package
// (var _ peft.Layer = (*Layer)(nil)).
//
// Forward and Backward (nn.Layer) run the method around the frozen base
// layer; Backward accumulates into the adapter's gradients. Merge folds
// the adapter into Base's weight so the plain layer computes the same
// function; Unmerge restores the weight exactly.
//
// For data-parallel steps (train.Parallel) a layer makes replicas of
// itself over replicas of its base layer (ReplicaOn): they share its
// parameters and keep their own activations and gradients. Around each
// step the trainer calls ShareStep(true) on the original, which may
// compute work that depends on the parameters alone once for every
// replica, and must seed the replicas' random streams from the layer's
// own (see LayerCore), then ShareStep(false). DropReplicas forgets them.
// Layers that draw random numbers in training (dropout) draw them from
// RNG, whose state checkpoints save, so a resumed run draws what an
// uninterrupted one would. Embedding LayerCore provides Base,
// SetTraining, RNG and DropReplicas.
type Layer interface {
	nn.Layer
	// Base is the wrapped checkpoint layer.
	Base() *nn.Linear
	// Tensors lists the adapter's parameters by PEFT key suffix.
	Tensors() []Tensor
	// Merge folds the adapter into Base's weight; Unmerge restores it.
	Merge() error
	Unmerge() error
	// Merged reports whether the adapter is folded into Base.
	Merged() bool
	// SetTraining switches training-only behaviour (dropout) on or off.
	SetTraining(on bool)
	// RNG is the generator training draws from (dropout).
	RNG() *tensor.RNG
	// Describe summarises the layer for inspection, e.g. "4 blocks of 16".
	Describe() string
	// Diagnostics are the method's figures for the layer (OFT: block
	// size, ‖Q‖_F, ‖RᵀR−I‖_F; LoRA: rank and scaling), in display order.
	Diagnostics() []Diagnostic

	model.LayerReplicator // ReplicaOn
	model.StepSharer      // ShareStep
	model.ReplicaOwner    // DropReplicas
}

// Diagnostic is one figure a method reports about a layer or a config.
type Diagnostic struct {
	Key    string // JSON name, e.g. "block_size"
	Label  string // column heading or text label, e.g. "block size"; "": JSON only
	Value  any    // an int, float64, bool or string
	Format string // fmt verb for Value in text, e.g. "%.4g" ("" : %v)
}

// Text formats the value for a table.
func (d Diagnostic) Text() string {
	if d.Format == "" {
		return fmt.Sprint(d.Value)
	}
	return fmt.Sprintf(d.Format, d.Value)
}

// Describer is implemented by configs with adapter-wide figures for
// inspection (OFT: its Cayley parametrisation and COFT radius). Text
// shows those with a Format after the method's name; all appear in JSON.
type Describer interface {
	Describe() []Diagnostic
}

// LayerCore is what every adapter layer keeps besides its math: the base
// layer it wraps, whether it is training, the random stream its dropout
// draws from, and the streams of the replicas made from it. A method's
// layer embeds it; the replica's layer embeds ReplicaCore's result.
type LayerCore struct {
	base     *nn.Linear
	training bool
	rng      *tensor.RNG
	replicas []*tensor.RNG // the streams of the replicas made from this layer
}

// NewLayerCore returns the core of a layer over base whose stream starts
// from seed.
func NewLayerCore(base *nn.Linear, seed uint64) LayerCore {
	return LayerCore{base: base, rng: tensor.NewRNG(seed)}
}

// Base returns the wrapped layer.
func (c *LayerCore) Base() *nn.Linear { return c.base }

// SetTraining switches training-only behaviour on or off.
func (c *LayerCore) SetTraining(on bool) { c.training = on }

// Training reports whether training-only behaviour is on.
func (c *LayerCore) Training() bool { return c.training }

// RNG returns the generator the layer's dropout draws from.
func (c *LayerCore) RNG() *tensor.RNG { return c.rng }

// ReplicaCore returns the core of a replica of this layer over base, the
// replica of its base layer: training as this one, with a stream of its
// own that SeedReplicas reseeds from this layer's every step.
func (c *LayerCore) ReplicaCore(base *nn.Linear) LayerCore {
	r := LayerCore{base: base, training: c.training, rng: tensor.NewRNG(0)}
	c.replicas = append(c.replicas, r.rng)
	return r
}

// SeedReplicas reseeds every replica's stream from this layer's, one draw
// each in replica order: the layer's stream alone decides the replicas'
// masks, so a resumed run draws what an uninterrupted one would.
func (c *LayerCore) SeedReplicas() {
	for _, r := range c.replicas {
		r.Reseed(c.rng.Uint64())
	}
}

// Replicas reports how many replicas made from the layer it keeps.
func (c *LayerCore) Replicas() int { return len(c.replicas) }

// DropReplicas forgets the replicas made from the layer
// (model.ReplicaOwner).
func (c *LayerCore) DropReplicas() { c.replicas = nil }

// Tensor is one adapter parameter and its key suffix, e.g. "oft_R.weight".
type Tensor struct {
	Suffix string
	Param  *nn.Param
}

// Adapter is one named adapter attached to a model: its config and one
// Layer per adapted module, in model order.
type Adapter struct {
	Name   string
	Config Config
	// Modules are the adapted module names, in model order.
	Modules []string
	// Layers maps a module name to its adapter layer.
	Layers map[string]Layer
	// Extra holds base-model weights the adapter also carries (bias modes,
	// modules_to_save), keyed by the full parameter name.
	Extra map[string]*nn.Param
	// Warnings are what reading the adapter's config noted (e.g. a legacy
	// Cayley–Neumann series reproduced).
	Warnings []string
}

// Key returns the adapter_model.safetensors key of a module's tensor.
func Key(module, suffix string) string { return KeyPrefix + module + "." + suffix }

// Params lists the adapter's trainable parameters with their file keys,
// in a stable order: layers in model order, then extra weights by name.
func (a *Adapter) Params() []KeyedParam {
	var out []KeyedParam
	for _, m := range a.Modules {
		for _, t := range a.Layers[m].Tensors() {
			out = append(out, KeyedParam{Key: Key(m, t.Suffix), Param: t.Param})
		}
	}
	for _, name := range sortedKeys(a.Extra) {
		out = append(out, KeyedParam{Key: KeyPrefix + name, Param: a.Extra[name]})
	}
	return out
}

// KeyedParam is a parameter with its adapter-file key.
type KeyedParam struct {
	Key   string
	Param *nn.Param
}

// SetTrainable gives every adapter parameter a gradient buffer (or drops
// them). Training-only behaviour such as dropout is separate: SetTraining.
func (a *Adapter) SetTrainable(on bool) {
	for _, p := range a.Params() {
		p.Param.SetTrainable(on)
	}
}

// SetTraining switches training-only behaviour (OFT block dropout, LoRA
// dropout) on or off in every layer.
func (a *Adapter) SetTraining(on bool) {
	for _, l := range a.Layers {
		l.SetTraining(on)
	}
}

// CountParams returns the number of adapter parameter elements.
func (a *Adapter) CountParams() int {
	n := 0
	for _, p := range a.Params() {
		n += p.Param.W.Len()
	}
	return n
}

// RNGs returns the random generators of the adapter's layers, in module
// order.
func (a *Adapter) RNGs() []*tensor.RNG {
	var out []*tensor.RNG
	for _, m := range a.Modules {
		out = append(out, a.Layers[m].RNG())
	}
	return out
}
