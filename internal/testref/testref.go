package testref

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"

	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// Dir returns the absolute path of testdata/peft-ref in this repository.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "peft-ref")
}

// Tolerance is one tensor's entry in cases.json.
type Tolerance struct {
	Atol   float64 `json:"recommended_atol_f32"`
	RefMax float64 `json:"ref_maxabs"`
}

// ModelCase describes one tiny reference model.
type ModelCase struct {
	Dir  string `json:"dir"`
	Base struct {
		File       string               `json:"file"`
		Loss       float64              `json:"loss"`
		Tolerances map[string]Tolerance `json:"tolerances"`
	} `json:"base"`
	Adapters map[string]json.RawMessage `json:"adapters"`
}

// Cases is cases.json.
type Cases struct {
	Model map[string]ModelCase       `json:"model"`
	Layer map[string]json.RawMessage `json:"layer"`
}

// Load parses cases.json.
func Load() (*Cases, error) {
	data, err := os.ReadFile(filepath.Join(Dir(), "cases.json"))
	if err != nil {
		return nil, err
	}
	var c Cases
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("cases.json: %w", err)
	}
	return &c, nil
}

// Tensors opens a reference safetensors file relative to Dir.
func Tensors(rel string) (*safetensors.File, error) {
	return safetensors.Open(filepath.Join(Dir(), rel))
}

// IDs reads an I64 [batch, seq] tensor as rows of ints.
func IDs(f *safetensors.File, name string) ([][]int, error) {
	flat, shape, err := f.Int64(name)
	if err != nil {
		return nil, err
	}
	if len(shape) != 2 {
		return nil, fmt.Errorf("%s: want [batch, seq], got %v", name, shape)
	}
	out := make([][]int, shape[0])
	for b := range out {
		out[b] = make([]int, shape[1])
		for t := range out[b] {
			out[b][t] = int(flat[b*shape[1]+t])
		}
	}
	return out, nil
}

// LayerCase is one single-layer reference case: a base layer, adapter
// tensors, input x, the probe G (loss = Σ y·G), and the expected output,
// merged weight and gradients.
type LayerCase struct {
	Name     string
	PeftType string
	// Config holds the case's config fields as JSON (a partial PEFT config).
	Config json.RawMessage
	// Conv1D is set when the base layer is transformers' Conv1D.
	Conv1D     bool
	Tolerances map[string]Tolerance
	Tensors    map[string]*tensor.Tensor
}

// LoadLayerCase reads layer case name (e.g. "oft_cayley").
func LoadLayerCase(name string) (*LayerCase, error) {
	c, err := Load()
	if err != nil {
		return nil, err
	}
	raw, ok := c.Layer[name]
	if !ok {
		return nil, fmt.Errorf("cases.json has no layer case %q", name)
	}
	var meta struct {
		PeftType   string                `json:"peft_type"`
		Config     json.RawMessage       `json:"config"`
		File       string                `json:"file"`
		Base       struct{ Kind string } `json:"base"`
		Tolerances map[string]Tolerance  `json:"tolerances"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("cases.json layer %q: %w", name, err)
	}
	f, err := Tensors(meta.File)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	lc := &LayerCase{Name: name, PeftType: meta.PeftType, Config: meta.Config, Conv1D: meta.Base.Kind != "nn.Linear",
		Tolerances: meta.Tolerances, Tensors: map[string]*tensor.Tensor{}}
	for _, n := range f.Names() {
		t, err := f.Float32(n)
		if err != nil {
			return nil, err
		}
		lc.Tensors[n] = t
	}
	return lc, nil
}

// LayerCaseNames lists the layer cases in cases.json, sorted.
func LayerCaseNames() ([]string, error) {
	c, err := Load()
	if err != nil {
		return nil, err
	}
	var out []string
	for k := range c.Layer {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// Atol returns the recommended float32 tolerance for tensor name.
func (lc *LayerCase) Atol(name string) float64 { return lc.Tolerances[name].Atol }

// AdapterCase is one model adapter reference: the adapter directory, the
// expected logits, loss and merged weights (in Ref) and gradients (Grads).
type AdapterCase struct {
	AdapterDir  string               `json:"adapter_dir"`
	Ref         string               `json:"ref"`
	Grads       string               `json:"grads"`
	Loss        float64              `json:"loss"`
	MergedKeys  []string             `json:"merged_keys"`
	PeftType    string               `json:"peft_type"`
	Tolerances  map[string]Tolerance `json:"tolerances"`
	AdapterKeys map[string][]int     `json:"adapter_keys"`
}

// Adapter returns model arch's adapter case name (e.g. "llama", "oft").
func (c *Cases) Adapter(arch, name string) (*AdapterCase, error) {
	m, ok := c.Model[arch]
	if !ok {
		return nil, fmt.Errorf("cases.json has no model %q", arch)
	}
	raw, ok := m.Adapters[name]
	if !ok {
		return nil, fmt.Errorf("cases.json model %q has no adapter %q", arch, name)
	}
	var a AdapterCase
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	return &a, nil
}
