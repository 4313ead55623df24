package testref

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// ModelsDir returns the absolute path of testdata/peft-ref-models in this
// repository (a copy of ../shared/testdata/peft-ref-models: the Qwen3 and
// Gemma 3 references).
func ModelsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "peft-ref-models")
}

// ModelRef is one entry of peft-ref-models/cases.json's flat "cases" map
// ("<arch>/<case>"): the model directory, the reference files and the
// per-tensor absolute tolerances. Paths are relative to ModelsDir; Abs
// makes them absolute.
type ModelRef struct {
	Name       string             `json:"-"`
	ModelDir   string             `json:"model_dir"`
	ModelType  string             `json:"model_type"`
	Ref        string             `json:"ref"`
	AdapterDir string             `json:"adapter_dir"` // "" for a base case
	Grads      string             `json:"grads"`
	PeftType   string             `json:"peft_type"`
	Atol       map[string]float64 `json:"atol"`
}

// LoadModelRef reads case name (e.g. "gemma3/oft") from
// peft-ref-models/cases.json.
func LoadModelRef(name string) (*ModelRef, error) {
	path := filepath.Join(ModelsDir(), "cases.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var all struct {
		Cases map[string]*ModelRef `json:"cases"`
	}
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c, ok := all.Cases[name]
	if !ok {
		names := make([]string, 0, len(all.Cases))
		for k := range all.Cases {
			names = append(names, k)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("%s: no case %q (have %s)", path, name, strings.Join(names, ", "))
	}
	c.Name = name
	return c, nil
}

// Abs returns a path of the case (relative to ModelsDir) as an absolute
// one.
func (c *ModelRef) Abs(rel string) string { return filepath.Join(ModelsDir(), rel) }

// Tol returns the absolute tolerance for tensor: its own entry, else the
// longest "prefix*" entry that matches it. A tensor with no entry is an
// error, so that a test cannot pass by comparing against nothing.
func (c *ModelRef) Tol(tensor string) (float64, error) {
	if t, ok := c.Atol[tensor]; ok {
		return t, nil
	}
	best, tol := -1, 0.0
	for k, t := range c.Atol {
		if p, ok := strings.CutSuffix(k, "*"); ok && strings.HasPrefix(tensor, p) && len(p) > best {
			best, tol = len(p), t
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("cases.json case %q has no tolerance for %q", c.Name, tensor)
	}
	return tol, nil
}
