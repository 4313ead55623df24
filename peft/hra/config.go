package hra

import (
	"encoding/json"
	"fmt"

	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

func init() {
	peft.RegisterMethod(peft.Method{
		Name: "hra", PeftType: "HRA", Summary: "Householder reflection adaptation: a product of r trainable reflections applied to each layer's input",
		NewConfig: func(targets peft.ModuleList) peft.Config { return NewConfig(targets) },
		Parse:     Parse,
	})
}

// Config is PEFT's HRAConfig. The struct tags declare the settings users
// set by name (peft.Settings): the flag, PEFT's field name (json) and the
// help text.
type Config struct {
	peft.BaseConfig
	R           int  `json:"r" flag:"hra-r" help:"HRA number of Householder reflections r (PEFT r; even r starts at the identity)"`
	ApplyGS     bool `json:"apply_GS" flag:"hra-apply-gs" help:"HRA: Gram–Schmidt-orthonormalise the reflection vectors, H = I − 2QQᵀ (PEFT apply_GS)"`
	InitWeights bool `json:"init_weights" flag:"hra-init-weights" help:"HRA symmetric init: pairs of equal reflections, so H = I at the start for even r (false: random vectors)"`

	// FanInFanOut shadows BaseConfig's field: HRAConfig has no
	// fan_in_fan_out, so none is written; one found in a file is kept.
	FanInFanOut json.RawMessage `json:"fan_in_fan_out,omitempty"`

	warned bool // NewLayer's init warning was given
}

// NewConfig returns an HRAConfig with PEFT's defaults (r 8, no
// Gram–Schmidt, symmetric init) targeting the given modules.
func NewConfig(targets peft.ModuleList) *Config {
	c := defaults()
	c.TargetModules = targets
	return c
}

func defaults() *Config {
	return &Config{BaseConfig: peft.NewBaseConfig("HRA"), R: 8, InitWeights: true}
}

// Parse reads an HRA adapter_config.json.
func Parse(path string, data []byte) (peft.Config, []string, error) {
	c := defaults()
	c.PeftVersion = ""
	warnings, err := peft.DecodeConfig(path, data, c)
	if err != nil {
		return nil, nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, warnings, nil
}

// Validate checks the fields as PEFT's HRAConfig and HRALayer do (r ≤ 0
// is PEFT's layer-time error, reported here for the whole config).
func (c *Config) Validate() error {
	switch {
	case c.PeftType != "HRA":
		return fmt.Errorf("peft_type %q, want \"HRA\"", c.PeftType)
	case c.R <= 0:
		return fmt.Errorf("r must be a positive number of Householder reflections, got %d", c.R)
	case c.TargetModules.IsPattern() && (c.LayersToTransform.IsSet || c.LayersPattern.IsSet):
		return fmt.Errorf("layers_to_transform and layers_pattern cannot be used with a string target_modules %q (PEFT's HRAConfig refuses it)", c.TargetModules.Pattern)
	}
	return c.ValidateShared()
}

// Describe reports the construction of H (peft.Describer).
func (c *Config) Describe() []peft.Diagnostic {
	kind := "product of reflections"
	if c.ApplyGS {
		kind = "Gram–Schmidt, I − 2QQᵀ"
	}
	return []peft.Diagnostic{{Key: "r", Value: c.R, Format: "r %d"}, {Key: "apply_GS", Value: c.ApplyGS},
		{Key: "householder", Value: kind, Format: "%s"}}
}

// Suffixes lists the one tensor an HRA layer stores (a ParameterDict
// entry: no ".weight").
func (c *Config) Suffixes() []string { return []string{"hra_u"} }

// InferShape returns the input features hra_u implies; HRA keeps the
// layer's output width, which the file does not record, so out is
// reported equal to in.
func (c *Config) InferShape(module string, ts map[string]*tensor.Tensor) (in, out int, err error) {
	u := ts["hra_u"]
	if len(u.Shape) != 2 || u.Shape[0] <= 0 || u.Shape[1] <= 0 {
		return 0, 0, fmt.Errorf("layer %s: hra_u has shape %v, want (in_features, r)", module, u.Shape)
	}
	return u.Shape[0], u.Shape[0], nil
}
