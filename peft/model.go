package peft

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/orthotune/orthotune/internal/atomicfile"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// File names inside an adapter directory.
const (
	ConfigFile  = "adapter_config.json"
	WeightsFile = "adapter_model.safetensors"
)

// Model is a base model with named adapters attached; at most one is
// active. Its Forward and Backward are the base model's, routed through
// the active adapter's layers.
type Model struct {
	model.CausalLM

	adapters map[string]*Adapter
	order    []string
	active   string // "" = base model
	merged   string // adapter folded into the base weights, "" if none
	slots    map[string]*model.LinearSlot
}

// Wrap prepares a model for adapters.
func Wrap(m model.CausalLM) *Model {
	pm := &Model{CausalLM: m, adapters: map[string]*Adapter{}, slots: map[string]*model.LinearSlot{}}
	for _, s := range m.Linears() {
		pm.slots[s.Name] = s
	}
	return pm
}

// Adapter returns the named adapter.
func (pm *Model) Adapter(name string) (*Adapter, bool) {
	a, ok := pm.adapters[name]
	return a, ok
}

// Adapters lists the adapter names in the order they were added.
func (pm *Model) Adapters() []string { return slices.Clone(pm.order) }

// Active returns the active adapter's name, "" when none is.
func (pm *Model) Active() string { return pm.active }

// Add creates a fresh adapter from cfg on the layers its targets select,
// initialised from rng, and makes it active.
func (pm *Model) Add(name string, cfg Config, rng *tensor.RNG) (*Adapter, error) {
	if err := pm.checkNew(name, cfg); err != nil {
		return nil, err
	}
	slots, err := cfg.Base().Select(pm.Linears())
	if err != nil {
		return nil, err
	}
	a := &Adapter{Name: name, Config: cfg, Layers: map[string]Layer{}, Extra: map[string]*nn.Param{}}
	for _, s := range slots {
		l, err := cfg.NewLayer(s, rng)
		if err != nil {
			return nil, err
		}
		a.Modules = append(a.Modules, s.Name)
		a.Layers[s.Name] = l
	}
	if err := pm.addExtraParams(a); err != nil {
		return nil, err
	}
	pm.install(a)
	return a, nil
}

func (pm *Model) checkNew(name string, cfg Config) error {
	if name == "" {
		return errors.New("peft: adapter name is empty")
	}
	if _, dup := pm.adapters[name]; dup {
		return fmt.Errorf("peft: an adapter named %q is already loaded", name)
	}
	return cfg.Validate()
}

// addExtraParams gathers the base weights the config's bias mode and
// modules_to_save make part of the adapter.
func (pm *Model) addExtraParams(a *Adapter) error {
	b := a.Config.Base()
	switch b.Bias {
	case "", "none":
	case "all":
		for _, p := range pm.Params() {
			if strings.HasSuffix(p.Name, ".bias") {
				a.Extra[p.Name] = p
			}
		}
	default: // "oft_only", "lora_only": biases of adapted layers
		if !strings.HasSuffix(b.Bias, "_only") {
			return fmt.Errorf("bias %q is not one of none, all, %s", b.Bias, strings.ToLower(b.PeftType)+"_only")
		}
		for _, m := range a.Modules {
			if bias := a.Layers[m].Base().Bias; bias != nil {
				a.Extra[bias.Name] = bias
			}
		}
	}
	for _, m := range b.ModulesToSave {
		found := false
		for _, p := range pm.Params() {
			module := p.Name[:max(0, strings.LastIndex(p.Name, "."))]
			if module == m || strings.HasSuffix(module, "."+m) {
				a.Extra[p.Name] = p
				found = true
			}
		}
		if !found {
			return fmt.Errorf("modules_to_save: %q names no module of the model", m)
		}
	}
	return nil
}

func (pm *Model) install(a *Adapter) {
	pm.adapters[a.Name] = a
	pm.order = append(pm.order, a.Name)
	_ = pm.SetActive(a.Name)
}

// SetActive routes the model through the named adapter; "" selects the
// base model (see DisableAdapters).
func (pm *Model) SetActive(name string) error {
	if name != "" {
		if _, ok := pm.adapters[name]; !ok {
			return fmt.Errorf("peft: no adapter named %q (loaded: %s)", name, strings.Join(pm.order, ", "))
		}
	}
	if pm.merged != "" && pm.merged != name {
		if err := pm.Unmerge(); err != nil {
			return err
		}
	}
	pm.active = name
	pm.route()
	return nil
}

// DisableAdapters runs the plain base model (unmerging first if needed).
func (pm *Model) DisableAdapters() error { return pm.SetActive("") }

func (pm *Model) route() {
	a := pm.adapters[pm.active]
	for name, s := range pm.slots {
		s.Layer = s.Base
		if a != nil && pm.merged == "" {
			if l, ok := a.Layers[name]; ok {
				s.Layer = l
			}
		}
	}
}

// Merge folds the active adapter into the base weights, so the plain model
// computes what the adapter did (zero inference overhead).
func (pm *Model) Merge() error {
	a := pm.adapters[pm.active]
	if a == nil {
		return errors.New("peft: no active adapter to merge")
	}
	if pm.merged != "" {
		return nil
	}
	for i, m := range a.Modules {
		if err := a.Layers[m].Merge(); err != nil {
			for _, done := range a.Modules[:i] {
				_ = a.Layers[done].Unmerge()
			}
			return fmt.Errorf("peft: merging %s: %w", m, err)
		}
	}
	pm.merged = a.Name
	pm.route()
	return nil
}

// Unmerge restores the base weights a Merge changed.
func (pm *Model) Unmerge() error {
	a := pm.adapters[pm.merged]
	if a == nil {
		return nil
	}
	for _, m := range a.Modules {
		if err := a.Layers[m].Unmerge(); err != nil {
			return fmt.Errorf("peft: unmerging %s: %w", m, err)
		}
	}
	pm.merged = ""
	pm.route()
	return nil
}

// KeyChecker is implemented by configs that recognise tensor keys of
// older formats and refuse them with an explanation.
type KeyChecker interface {
	CheckKeys(keys []string) error
}

// LoadOption adjusts an adapter's config after it is read and before its
// layers are built (e.g. oft.WithSeries).
type LoadOption func(cfg Config) error

// Load reads an adapter directory and attaches it under name, active.
// Every tensor in the file must belong to an adapted layer or name a base
// weight; every adapted layer must have all its tensors.
func (pm *Model) Load(name, dir string, opts ...LoadOption) (*Adapter, error) {
	cfgPath := filepath.Join(dir, ConfigFile)
	cfg, warnings, err := ReadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	for _, opt := range opts {
		if err := opt(cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", cfgPath, err)
		}
	}
	if err := pm.checkNew(name, cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	wPath := filepath.Join(dir, WeightsFile)
	f, err := safetensors.Open(wPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if kc, ok := cfg.(KeyChecker); ok {
		if err := kc.CheckKeys(f.Names()); err != nil {
			return nil, fmt.Errorf("%s: %w", wPath, err)
		}
	}
	slots, err := cfg.Base().Select(pm.Linears())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	used := map[string]bool{}
	a := &Adapter{Name: name, Config: cfg, Layers: map[string]Layer{}, Extra: map[string]*nn.Param{}, Warnings: warnings}
	for _, s := range slots {
		ts := map[string]*tensor.Tensor{}
		for _, suffix := range cfg.Suffixes() {
			key := Key(s.Name, suffix)
			if _, ok := f.Info(key); !ok {
				return nil, fmt.Errorf("%s: tensor %q is missing (layer %s is targeted by %s)", wPath, key, s.Name, cfgPath)
			}
			t, err := f.Float32(key)
			if err != nil {
				return nil, err
			}
			if err := model.CheckFinite(wPath, key, t.Data); err != nil {
				return nil, err
			}
			ts[suffix] = t
			used[key] = true
		}
		l, err := cfg.LoadLayer(s, ts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", wPath, err)
		}
		a.Modules = append(a.Modules, s.Name)
		a.Layers[s.Name] = l
	}
	if err := pm.addExtraParams(a); err != nil {
		return nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	params := map[string]*nn.Param{}
	for _, p := range pm.Params() {
		params[p.Name] = p
	}
	// Base weights the adapter carries (bias modes, modules_to_save): check
	// them all before touching the model, so a bad file changes nothing.
	type update struct {
		p *nn.Param
		t *tensor.Tensor
	}
	var updates []update
	for _, key := range f.Names() {
		if used[key] {
			continue
		}
		p, ok := params[strings.TrimPrefix(key, KeyPrefix)]
		if !strings.HasPrefix(key, KeyPrefix) || !ok {
			return nil, fmt.Errorf("%s: tensor %q belongs to no targeted layer and names no weight of the model (target_modules %s)", wPath, key, cfg.Base().TargetModules)
		}
		t, err := f.Float32(key)
		if err != nil {
			return nil, err
		}
		if err := model.CheckFinite(wPath, key, t.Data); err != nil {
			return nil, err
		}
		if !t.SameShape(p.W) {
			return nil, fmt.Errorf("%s: tensor %q has shape %v, the model's %s is %v", wPath, key, t.Shape, p.Name, p.W.Shape)
		}
		updates = append(updates, update{p, t})
	}
	for _, u := range updates {
		copy(u.p.W.Data, u.t.Data)
		a.Extra[u.p.Name] = u.p
	}
	pm.install(a)
	return a, nil
}

// Save writes the named adapter as a PEFT directory: adapter_config.json
// (every field, sorted, peft_version ≥ MinWriteVersion, CAUSAL_LM) and
// adapter_model.safetensors (F32, {"format": "pt"}). Files are written
// atomically; the directory is created if needed.
func (pm *Model) Save(name, dir string) error {
	a, ok := pm.adapters[name]
	if !ok {
		return fmt.Errorf("peft: no adapter named %q", name)
	}
	return a.Save(dir)
}

// Save writes the adapter as a PEFT directory (see Model.Save).
func (a *Adapter) Save(dir string) error {
	b := a.Config.Base()
	if b.TaskType == nil {
		t := TaskCausalLM
		b.TaskType = &t
	}
	cfg, err := EncodeConfig(a.Config)
	if err != nil {
		return err
	}
	var entries []safetensors.Entry
	for _, p := range a.Params() {
		entries = append(entries, safetensors.Entry{Name: p.Key, DType: safetensors.F32, Shape: p.Param.W.Shape, Float: p.Param.W.Data})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := safetensors.Write(filepath.Join(dir, WeightsFile), entries, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, ConfigFile), func(w io.Writer) error {
		_, err := w.Write(cfg)
		return err
	})
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// SetGradientCheckpointing passes the setting to the wrapped model
// (model.Checkpointer); the adapter layers in its slots take part in the
// recomputation.
func (m *Model) SetGradientCheckpointing(on bool) error {
	return model.SetGradientCheckpointing(m.CausalLM, on)
}

// Replica returns a replica of the wrapped model, with the adapters as
// routed now, for data-parallel training (see model.Replicator). The
// replica runs the model; it does not manage adapters.
func (pm *Model) Replica(r *nn.Replicas) (model.CausalLM, error) {
	rep, ok := pm.CausalLM.(model.Replicator)
	if !ok {
		return nil, fmt.Errorf("peft: %T cannot make replicas of itself", pm.CausalLM)
	}
	return rep.Replica(r)
}

// ForwardLoss runs the wrapped model's output head and loss together by
// chunks of rows through the active adapter (model.LossModel); it fails
// when the wrapped model has no such pass.
func (pm *Model) ForwardLoss(ids [][]int, targets []int, rowScale float64, ce *nn.CrossEntropy) (float64, int, error) {
	lm, ok := pm.CausalLM.(model.LossModel)
	if !ok {
		return 0, 0, fmt.Errorf("peft: %T has no chunked head-and-loss pass", pm.CausalLM)
	}
	return lm.ForwardLoss(ids, targets, rowScale, ce)
}

// BackwardLoss is the backward pass of ForwardLoss (model.LossModel).
func (pm *Model) BackwardLoss() *tensor.Tensor {
	return pm.CausalLM.(model.LossModel).BackwardLoss()
}

// NewCache returns a key/value cache for generating through the active
// adapter (model.Decoder). It panics if the wrapped model cannot decode
// incrementally; Decodes says whether it can.
func (pm *Model) NewCache(batch, maxLen int) model.Cache {
	return pm.CausalLM.(model.Decoder).NewCache(batch, maxLen)
}

// Step runs new tokens through the wrapped model's decoder, and so through
// the active adapter's layers (model.Decoder).
func (pm *Model) Step(ids [][]int, cache model.Cache) (*tensor.Tensor, error) {
	dec, ok := pm.CausalLM.(model.Decoder)
	if !ok {
		return nil, fmt.Errorf("peft: %T cannot decode incrementally", pm.CausalLM)
	}
	return dec.Step(ids, cache)
}

// Decodes reports whether the wrapped model can decode incrementally.
func (pm *Model) Decodes() bool {
	_, ok := pm.CausalLM.(model.Decoder)
	return ok
}

var (
	_ model.LossModel  = (*Model)(nil)
	_ model.Decoder    = (*Model)(nil)
	_ model.Replicator = (*Model)(nil)
)
