package peft

import (
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

// KeyPrefix starts every tensor key in adapter_model.safetensors.
const KeyPrefix = "base_model.model."

// Layer is one adapted linear layer: the method's forward and backward
// around the frozen base layer, its tensors, and merging.
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
	// Describe summarises the layer for inspection, e.g. "4 blocks of 16".
	Describe() string
}

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

// Stochastic is implemented by layers that draw random numbers while
// training (dropout). A trainer saves and restores these generators so that
// a resumed run drops exactly what an uninterrupted one would.
type Stochastic interface {
	RNG() *tensor.RNG
}

// RNGs returns the random generators of the adapter's layers, in module
// order; layers without one are skipped.
func (a *Adapter) RNGs() []*tensor.RNG {
	var out []*tensor.RNG
	for _, m := range a.Modules {
		if s, ok := a.Layers[m].(Stochastic); ok {
			out = append(out, s.RNG())
		}
	}
	return out
}
