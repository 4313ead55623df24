package peft

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/orth"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// Report describes an adapter for inspection: its method and targets,
// the method's adapter-wide figures (Describer) and, per adapted layer,
// the method's diagnostics (Layer.Diagnostics) and, when inspected on its
// model, the hyperspherical energy of the layer's weight before and after
// merging.
type Report struct {
	Dir         string
	Method      string // peft_type
	PeftVersion string
	Targets     ModuleList
	Details     []Diagnostic // the config's Describe, if any
	Parameters  int          // trainable parameters
	Model       string       // the model directory, when inspected on it
	Layers      []LayerReport
	// Extra lists base-model weights the adapter carries (bias modes,
	// modules_to_save), by name.
	Extra []string
}

// LayerReport describes one adapted module.
type LayerReport struct {
	Module      string
	Parameters  int
	Description string // the layer's Describe (on a model)
	Diagnostics []Diagnostic
	// On a model: hyperspherical energy of the base and the merged weight
	// (neurons: rows of an nn.Linear (out, in) weight, columns of a Conv1D
	// (in, out) weight), and the relative change.
	EnergyBase, EnergyMerged, EnergyChange *float64
}

// MarshalJSON writes the report with the fields in a fixed order: dir,
// method, peft_version, target_modules, the config's details,
// trainable_parameters, model, layers, extra_tensors.
func (r *Report) MarshalJSON() ([]byte, error) {
	var o orderedObject
	o.add("dir", r.Dir)
	o.add("method", r.Method)
	if r.PeftVersion != "" {
		o.add("peft_version", r.PeftVersion)
	}
	o.add("target_modules", r.Targets)
	for _, d := range r.Details {
		o.add(d.Key, d.Value)
	}
	o.add("trainable_parameters", r.Parameters)
	if r.Model != "" {
		o.add("model", r.Model)
	}
	layers := r.Layers
	if layers == nil {
		layers = []LayerReport{}
	}
	o.add("layers", layers)
	if len(r.Extra) > 0 {
		o.add("extra_tensors", r.Extra)
	}
	return o.bytes()
}

// MarshalJSON writes module, parameters, description, the diagnostics by
// key, then the energies.
func (l LayerReport) MarshalJSON() ([]byte, error) {
	var o orderedObject
	o.add("module", l.Module)
	o.add("parameters", l.Parameters)
	if l.Description != "" {
		o.add("description", l.Description)
	}
	for _, d := range l.Diagnostics {
		o.add(d.Key, d.Value)
	}
	for _, e := range []struct {
		key string
		v   *float64
	}{{"hyperspherical_energy_base", l.EnergyBase}, {"hyperspherical_energy_merged", l.EnergyMerged}, {"hyperspherical_energy_relative_change", l.EnergyChange}} {
		if e.v != nil {
			o.add(e.key, *e.v)
		}
	}
	return o.bytes()
}

type orderedObject struct {
	buf bytes.Buffer
	err error
}

func (o *orderedObject) add(key string, v any) {
	if o.err != nil {
		return
	}
	if o.buf.Len() == 0 {
		o.buf.WriteByte('{')
	} else {
		o.buf.WriteByte(',')
	}
	k, _ := json.Marshal(key)
	val, err := json.Marshal(v)
	if err != nil {
		o.err = fmt.Errorf("%s: %w", key, err)
		return
	}
	o.buf.Write(k)
	o.buf.WriteByte(':')
	o.buf.Write(val)
}

func (o *orderedObject) bytes() ([]byte, error) {
	if o.err != nil {
		return nil, o.err
	}
	if o.buf.Len() == 0 {
		return []byte("{}"), nil
	}
	o.buf.WriteByte('}')
	return o.buf.Bytes(), nil
}

func newReport(dir string, cfg Config) *Report {
	b := cfg.Base()
	r := &Report{Dir: dir, Method: b.PeftType, PeftVersion: b.PeftVersion, Targets: b.TargetModules}
	if d, ok := cfg.(Describer); ok {
		r.Details = d.Describe()
	}
	return r
}

func describeLayer(module string, l Layer) LayerReport {
	r := LayerReport{Module: module, Diagnostics: l.Diagnostics()}
	for _, t := range l.Tensors() {
		r.Parameters += t.Param.W.Len()
	}
	return r
}

// InspectDir describes the adapter in dir from its two files alone
// (adapter_config.json, adapter_model.safetensors): each layer is rebuilt
// on a stand-in base layer of the size its tensors imply
// (Config.InferShape), so the diagnostics are the method's own code's.
func InspectDir(dir string) (*Report, error) {
	cfgPath := filepath.Join(dir, ConfigFile)
	cfg, _, err := ReadConfig(cfgPath)
	if err != nil {
		return nil, err
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
	r := newReport(dir, cfg)
	suffixes := cfg.Suffixes()
	var modules []string
	seen := map[string]bool{}
	for _, key := range f.Names() {
		info, _ := f.Info(key)
		r.Parameters += info.Numel()
		rest, ok := strings.CutPrefix(key, KeyPrefix)
		if !ok {
			return nil, fmt.Errorf("%s: tensor %q does not start with %q, so it is no PEFT adapter key", wPath, key, KeyPrefix)
		}
		module := ""
		for _, s := range suffixes {
			if m, ok := strings.CutSuffix(rest, "."+s); ok {
				module = m
				break
			}
		}
		if module == "" {
			r.Extra = append(r.Extra, rest)
			continue
		}
		if !seen[module] {
			seen[module] = true
			modules = append(modules, module)
		}
	}
	if len(modules) == 0 {
		return nil, fmt.Errorf("%s: no tensor ends in %s: the file holds no %s layer", wPath, strings.Join(suffixes, " or "), r.Method)
	}
	NaturalSort(modules)
	// Without a model, at least check that the config selects every layer
	// the file holds (loading would refuse the adapter otherwise).
	if t := cfg.Base().TargetModules; !(t.IsPattern() && strings.EqualFold(t.Pattern, AllLinear)) {
		for _, m := range modules {
			ok, err := cfg.Base().Match(m)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", cfgPath, err)
			}
			if !ok {
				return nil, fmt.Errorf("%s: target_modules %s do not select layer %s, whose tensors %s holds", cfgPath, t, m, wPath)
			}
		}
	}
	for _, m := range modules {
		ts := map[string]*tensor.Tensor{}
		for _, s := range suffixes {
			key := Key(m, s)
			if _, ok := f.Info(key); !ok {
				return nil, fmt.Errorf("%s: tensor %q is missing (layer %s has the other tensors of %s)", wPath, key, m, r.Method)
			}
			t, err := f.Float32(key)
			if err != nil {
				return nil, err
			}
			ts[s] = t
		}
		in, out, err := cfg.InferShape(m, ts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", wPath, err)
		}
		slot := &model.LinearSlot{Name: m, Base: &nn.Linear{Name: m, In: in, Out: out}}
		l, err := cfg.LoadLayer(slot, ts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", wPath, err)
		}
		r.Layers = append(r.Layers, describeLayer(m, l))
	}
	return r, nil
}

// InspectOnModel describes adapter a, attached to pm and active, loaded
// from dir: each layer's diagnostics and description, and each adapted
// weight's hyperspherical energy before and after merging. It leaves the
// adapter merged.
func InspectOnModel(pm *Model, a *Adapter, dir, modelDir string) (*Report, error) {
	r := newReport(dir, a.Config)
	r.Model = modelDir
	r.Parameters = a.CountParams()
	r.Extra = append(r.Extra, sortedKeys(a.Extra)...)
	for _, m := range a.Modules {
		l := a.Layers[m]
		lr := describeLayer(m, l)
		lr.Description = l.Describe()
		e := NeuronEnergy(l.Base())
		lr.EnergyBase = &e
		r.Layers = append(r.Layers, lr)
	}
	if err := pm.Merge(); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	for i, m := range a.Modules {
		lr := &r.Layers[i]
		e := NeuronEnergy(a.Layers[m].Base())
		lr.EnergyMerged = &e
		if *lr.EnergyBase != 0 {
			c := (e - *lr.EnergyBase) / *lr.EnergyBase
			lr.EnergyChange = &c
		}
	}
	return r, nil
}

// NeuronEnergy is the hyperspherical energy of a linear layer's neurons
// (orth.HypersphericalEnergy; O(out²·in)).
func NeuronEnergy(l *nn.Linear) float64 {
	return orth.HypersphericalEnergy(l.NeuronRows(), l.Out, l.In)
}

// NaturalSort orders module names with their numbers compared as numbers
// (layers.2 before layers.10).
func NaturalSort(names []string) {
	sort.SliceStable(names, func(i, j int) bool { return naturalLess(names[i], names[j]) })
}

func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, _ := strconv.ParseUint(a[:da], 10, 64)
			nb, _ := strconv.ParseUint(b[:db], 10, 64)
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && unicode.IsDigit(rune(s[n])) {
		n++
	}
	return n
}
