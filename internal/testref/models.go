package testref

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// Compare fails the test when got and want differ in shape or by more
// than atol anywhere, and logs the difference either way.
func Compare(t testing.TB, what string, got, want *tensor.Tensor, atol float64) {
	t.Helper()
	if !got.SameShape(want) {
		t.Errorf("%s: shape %v, reference %v", what, got.Shape, want.Shape)
		return
	}
	d := tensor.MaxAbsDiff(got.Data, want.Data)
	t.Logf("%-20s max |Δ| %.3g (tolerance %.3g)", what, d, atol)
	if d > atol {
		t.Errorf("%s differs from the reference by %.3g > %.3g", what, d, atol)
	}
}

// ModelsDir returns the absolute path of testdata/peft-ref-models in this
// repository (a copy of ../shared/testdata/peft-ref-models): reference
// models of further architectures, each with a base case and adapter
// cases, indexed by the flat "cases" map of its cases.json.
func ModelsDir() string { return filepath.Join(filepath.Dir(Dir()), "peft-ref-models") }

// ModelRef is one entry of peft-ref-models' "cases" map: a base case
// (logits, loss and full-fine-tuning gradients of the model alone) when
// AdapterDir is empty, else an adapter case (the model with a PEFT adapter
// directory loaded: logits, loss, merged weights, adapter gradients).
// Paths are relative to ModelsDir.
type ModelRef struct {
	Name       string `json:"-"` // "<arch>/<case>", its key in the map
	ModelDir   string `json:"model_dir"`
	ModelType  string `json:"model_type"`
	Ref        string `json:"ref"`         // input_ids, logits, loss, grad_full.* or merged.*
	InputIDs   string `json:"input_ids"`   // the file holding input_ids; Ref when empty
	AdapterDir string `json:"adapter_dir"` // PEFT adapter directory; empty for a base case
	Grads      string `json:"grads"`       // d loss / d each adapter tensor, by adapter key
	PeftType   string `json:"peft_type"`
	// Atol maps a tensor name, or a prefix pattern ending in "*", to its
	// float32 tolerance.
	Atol map[string]float64 `json:"atol"`
}

// Arch returns the part of the case's name before the slash ("qwen3").
func (r *ModelRef) Arch() string { arch, _, _ := strings.Cut(r.Name, "/"); return arch }

// Tolerance returns the tolerance of tensor name: its own entry, else that
// of the longest pattern "prefix*" it matches. It is an error when neither
// exists, so that a test never compares against a tolerance of zero by
// accident.
func (r *ModelRef) Tolerance(name string) (float64, error) {
	if a, ok := r.Atol[name]; ok {
		return a, nil
	}
	best, atol := -1, 0.0
	for pat, a := range r.Atol {
		prefix, ok := strings.CutSuffix(pat, "*")
		if ok && strings.HasPrefix(name, prefix) && len(prefix) > best {
			best, atol = len(prefix), a
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("%s/cases.json: case %q has no tolerance for %q", ModelsDir(), r.Name, name)
	}
	return atol, nil
}

// Path returns rel (a path from cases.json) as an absolute path.
func (r *ModelRef) Path(rel string) string { return filepath.Join(ModelsDir(), rel) }

// Open opens one of the case's reference files (a path from cases.json).
func (r *ModelRef) Open(rel string) (*safetensors.File, error) { return safetensors.Open(r.Path(rel)) }

// IDs reads the case's input_ids.
func (r *ModelRef) IDs() ([][]int, error) {
	src := r.InputIDs
	if src == "" {
		src = r.Ref
	}
	f, err := r.Open(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return IDs(f, "input_ids")
}

// ModelRefs is peft-ref-models' cases.json: its cases by name.
type ModelRefs map[string]*ModelRef

// LoadModelRefs parses peft-ref-models/cases.json.
func LoadModelRefs() (ModelRefs, error) {
	path := filepath.Join(ModelsDir(), "cases.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Cases map[string]*ModelRef `json:"cases"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for name, c := range doc.Cases {
		c.Name = name
		if c.ModelType == "" || c.ModelDir == "" || c.Ref == "" {
			return nil, fmt.Errorf("%s: case %q lacks model_type, model_dir or ref", path, name)
		}
	}
	return doc.Cases, nil
}

// Select returns, sorted by name, the cases of the adapter kind asked for
// (adapters false: base cases) whose model_type is among registered, and
// the names of the model types left out. Tests select by the model types
// their binary registers, so that an architecture's cases join a test as
// soon as its package is imported there.
func (rs ModelRefs) Select(registered []string, adapters bool) (cases []*ModelRef, leftOut []string) {
	for _, c := range rs {
		if (c.AdapterDir != "") != adapters {
			continue
		}
		if slices.Contains(registered, c.ModelType) {
			cases = append(cases, c)
		} else if !slices.Contains(leftOut, c.ModelType) {
			leftOut = append(leftOut, c.ModelType)
		}
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].Name < cases[j].Name })
	sort.Strings(leftOut)
	return cases, leftOut
}

// Base returns the base case of r's architecture ("<arch>/base").
func (rs ModelRefs) Base(r *ModelRef) (*ModelRef, error) {
	b, ok := rs[r.Arch()+"/base"]
	if !ok {
		return nil, fmt.Errorf("%s/cases.json: no case %q for %q", ModelsDir(), r.Arch()+"/base", r.Name)
	}
	return b, nil
}

// LoadModelRef returns case name ("gemma3/oft") of peft-ref-models'
// cases.json.
func LoadModelRef(name string) (*ModelRef, error) {
	refs, err := LoadModelRefs()
	if err != nil {
		return nil, err
	}
	c, ok := refs[name]
	if !ok {
		names := slices.Sorted(maps.Keys(refs))
		return nil, fmt.Errorf("%s/cases.json: no case %q (have %s)", ModelsDir(), name, strings.Join(names, ", "))
	}
	return c, nil
}
