package train

import (
	"regexp"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// Target is what a training run updates and saves.
type Target interface {
	// Params lists the trainable parameters in a stable order, each with a
	// gradient buffer and a unique name.
	Params() []NamedParam
	// RNGs lists the generators training draws from (dropout), in a stable
	// order; checkpoints save their states.
	RNGs() []*tensor.RNG
	// SetTraining switches training-only behaviour (dropout) on or off.
	SetTraining(on bool)
	// Save writes the trained artefact into dir, an existing directory.
	Save(dir string) error
}

// noDecay matches the parameter names transformers' Trainer exempts from
// weight decay: biases and normalisation weights.
var noDecay = regexp.MustCompile(`bias|layernorm|rmsnorm|(^|\.)norm($|\.)|_norm($|\.)|(^|\.)ln_`)

func decays(name string) bool { return !noDecay.MatchString(name) }

// AdapterTarget trains one PEFT adapter: its parameters get gradient
// buffers; the base model stays frozen. Save writes a PEFT adapter
// directory.
func AdapterTarget(a *peft.Adapter) Target {
	a.SetTrainable(true)
	return adapterTarget{a}
}

type adapterTarget struct{ a *peft.Adapter }

func (t adapterTarget) Params() []NamedParam {
	var out []NamedParam
	for _, p := range t.a.Params() {
		out = append(out, NamedParam{Name: p.Key, Param: p.Param, Decay: decays(p.Key)})
	}
	return out
}

func (t adapterTarget) RNGs() []*tensor.RNG   { return t.a.RNGs() }
func (t adapterTarget) SetTraining(on bool)   { t.a.SetTraining(on) }
func (t adapterTarget) Save(dir string) error { return t.a.Save(dir) }

// FullTarget trains every weight of m (full fine-tuning, for comparison
// with adapters). Save writes a Hugging Face model directory laid out like
// ckpt, the checkpoint m was loaded from.
func FullTarget(m model.CausalLM, ckpt *safetensors.Checkpoint) Target {
	for _, p := range m.Params() {
		p.SetTrainable(true)
	}
	return fullTarget{m, ckpt}
}

type fullTarget struct {
	m    model.CausalLM
	ckpt *safetensors.Checkpoint
}

func (t fullTarget) Params() []NamedParam {
	var out []NamedParam
	for _, p := range t.m.Params() {
		out = append(out, NamedParam{Name: p.Name, Param: p, Decay: decays(p.Name)})
	}
	return out
}

func (t fullTarget) RNGs() []*tensor.RNG { return nil }
func (t fullTarget) SetTraining(bool)    {}
func (t fullTarget) Save(dir string) error {
	_, _, err := model.WriteDir(t.m, t.ckpt, dir)
	return err
}
