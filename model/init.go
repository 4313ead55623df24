package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// InitFunc returns the initial values (len = product of shape) of the weight
// the architecture's builder asks for, by checkpoint name and shape. The
// model keeps the returned slice as the weight's storage, so each call must
// return a fresh one.
type InitFunc func(name string, shape []int) []float32

// NewInitialized builds a model of cfg's model_type through its registered
// Builder, every weight drawn by init (in the order the builder asks for them)
// instead of read from a checkpoint. Every weight starts frozen, as with Load.
//
// The builder sees no checkpoint (Weights.Has reports false), so it takes the
// architecture's standard Hugging Face naming, e.g. GPT-2's "transformer."
// prefix. Each weight is drawn once; tied weights are drawn once, under the
// name the builder asks for. Info().CheckpointDTypes is empty.
func NewInitialized(cfg *Config, init InitFunc) (CausalLM, error) {
	if init == nil {
		return nil, errors.New("model: NewInitialized: init is nil")
	}
	build, err := builderFor(cfg)
	if err != nil {
		return nil, err
	}
	return build(cfg, &Weights{init: init, used: map[string]bool{}, skipped: map[string]bool{}})
}

// draw asks the InitFunc for weight name, checking the values it returns.
func (w *Weights) draw(name string, shape []int) (*tensor.Tensor, error) {
	if w.used[name] {
		return nil, fmt.Errorf("model: weight %q asked for twice: an initialised model draws each weight once", name)
	}
	if _, err := tensor.Numel(shape); err != nil {
		return nil, fmt.Errorf("model: weight %q: %w", name, err)
	}
	t, err := tensor.FromSlice(w.init(name, shape), shape...)
	if err != nil {
		return nil, fmt.Errorf("model: initialising weight %q: %w", name, err)
	}
	w.used[name] = true
	return t, nil
}

// NormalInit draws every weight from N(0, std²) with rng, in the order asked,
// except norm weights (1) and biases (0), which draw nothing — what transformers'
// _init_weights does for Llama and GPT-2 (LayerNorm/RMSNorm weight 1, bias 0).
// A bias is a weight whose name ends in ".bias"; a norm weight is any other
// one-dimensional weight (in these architectures only norms have one).
func NormalInit(std float64, rng *tensor.RNG) InitFunc {
	return func(name string, shape []int) []float32 {
		switch {
		case strings.HasSuffix(name, ".bias"):
			return tensor.New(shape...).Data
		case len(shape) == 1:
			t := tensor.New(shape...)
			for i := range t.Data {
				t.Data[i] = 1
			}
			return t.Data
		default:
			return rng.Randn(std, shape...).Data
		}
	}
}

// WriteInitialized writes m, a model made by NewInitialized, into dir
// (created if needed) as a Hugging Face model directory that Load reads
// back to the same weights: config.json holding cfg's bytes exactly as
// ParseConfig read them (a nested Config from Object is written as indented
// JSON), and model.safetensors holding every weight of m.Params() under its
// name, in dtype (F32 when empty; F16, BF16 and F64 round or widen), with
// format "pt" metadata. Tied weights are written once, as Params lists
// them. It fails with nn.ErrBF16 (wrapped) if a linear weight is held in
// bfloat16 (StoreBaseBF16).
func WriteInitialized(dir string, cfg *Config, m CausalLM, dtype safetensors.DType) error {
	if dtype == "" {
		dtype = safetensors.F32
	}
	if !dtype.IsFloat() {
		return fmt.Errorf("model: WriteInitialized: dtype %s is not a float dtype", dtype)
	}
	for _, s := range m.Linears() {
		if s.Base.BF16() {
			return fmt.Errorf("model: WriteInitialized: %s: %w", s.Name, nn.ErrBF16)
		}
	}
	data := cfg.data
	if data == nil {
		var err error
		if data, err = json.MarshalIndent(cfg.raw, "", "  "); err != nil {
			return fmt.Errorf("model: WriteInitialized: %s: %w", cfg.Path, err)
		}
	}
	var entries []safetensors.Entry
	for _, p := range m.Params() {
		entries = append(entries, safetensors.Entry{Name: p.Name, DType: dtype, Shape: p.W.Shape, Float: p.W.Data})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	if err := safetensors.Write(filepath.Join(dir, safetensors.SingleFileName), entries, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	return nil
}
