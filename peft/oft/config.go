package oft

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/orthotune/orthotune/orth"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

func init() {
	peft.RegisterMethod(peft.Method{
		Name: "oft", PeftType: "OFT", Summary: "orthogonal fine-tuning: block-diagonal Cayley rotations of each layer's input",
		NewConfig: func(targets peft.ModuleList) peft.Config { return NewConfig(targets) },
		Parse:     Parse,
	})
	peft.RegisterLoadSetting(peft.LoadSetting{
		Flag: "neumann-series", Default: "auto",
		Help:   "OFT Cayley–Neumann series: auto (from the adapter's peft_version: below 0.18.0 or missing means PEFT 0.16–0.17's series), current (PEFT ≥ 0.18), or legacy (PEFT 0.16–0.17)",
		Option: seriesOption,
	})
}

// seriesOption turns a --neumann-series value into a load option.
func seriesOption(series string) (peft.LoadOption, error) {
	switch series {
	case "auto", "":
		return nil, nil
	case "current":
		return WithSeries(orth.Neumann), nil
	case "legacy":
		return WithSeries(orth.NeumannLegacy), nil
	}
	return nil, fmt.Errorf("neumann-series %q: want auto, current or legacy", series)
}

// Config is PEFT's OFTConfig. The struct tags declare the settings users
// set by name (peft.Settings): the flag, PEFT's field name (json) and the
// help text.
type Config struct {
	peft.BaseConfig
	R                     int     `json:"r" flag:"oft-r" help:"OFT number of blocks r instead of --oft-block-size (PEFT r; 0: use the block size)"`
	BlockSize             int     `json:"oft_block_size" flag:"oft-block-size" help:"OFT block size b (PEFT oft_block_size)"`
	ModuleDropout         float64 `json:"module_dropout" flag:"module-dropout" help:"OFT multiplicative block dropout probability"`
	COFT                  bool    `json:"coft" flag:"coft" help:"constrained OFT: keep each block's Q within a ball of radius --eps"`
	Eps                   float64 `json:"eps" flag:"eps" help:"COFT radius (PEFT eps)"`
	BlockShare            bool    `json:"block_share" flag:"block-share" help:"share one OFT block across the layer"`
	UseCayleyNeumann      bool    `json:"use_cayley_neumann" flag:"use-cayley-neumann" help:"Cayley–Neumann series for OFT's rotation (PEFT's default)" negate:"exact-cayley" negatehelp:"exact Cayley transform (use_cayley_neumann=false)"`
	NumCayleyNeumannTerms int     `json:"num_cayley_neumann_terms" flag:"num-cayley-neumann-terms" alias:"neumann-terms" help:"terms of the Cayley–Neumann series"`
	InitWeights           bool    `json:"init_weights"`

	// Series is the Cayley–Neumann series used when UseCayleyNeumann is
	// set: orth.Neumann (PEFT ≥ 0.18) or orth.NeumannLegacy (PEFT
	// 0.16–0.17). Parse picks it from peft_version; ForceSeries overrides.
	Series orth.Kind `json:"-"`
}

// NewConfig returns an OFTConfig with PEFT's defaults (block size 32,
// Cayley–Neumann with 5 terms, zero init) targeting the given modules.
func NewConfig(targets peft.ModuleList) *Config {
	c := defaults()
	c.TargetModules = targets
	return c
}

func defaults() *Config {
	return &Config{
		BaseConfig: peft.NewBaseConfig("OFT"),
		BlockSize:  32, Eps: 6e-5, UseCayleyNeumann: true, NumCayleyNeumannTerms: 5, InitWeights: true,
		Series: orth.Neumann,
	}
}

// Parse reads an OFT adapter_config.json. A config without oft_block_size
// is refused, as PEFT does. A Cayley–Neumann adapter whose peft_version is
// missing or below 0.18.0 was trained with the 0.16–0.17 series; Parse
// selects that series and says so in a warning.
func Parse(path string, data []byte) (peft.Config, []string, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, fmt.Errorf("%s: not a JSON object: %w", path, err)
	}
	if _, ok := raw["oft_block_size"]; !ok {
		return nil, nil, fmt.Errorf("%s: OFT config has no \"oft_block_size\" field; PEFT requires it (configs written before PEFT 0.14 used only \"r\" and are not supported)", path)
	}
	c := defaults()
	c.PeftVersion = ""
	warnings, err := peft.DecodeConfig(path, data, c)
	if err != nil {
		return nil, nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.UseCayleyNeumann && (c.PeftVersion == "" || peft.VersionLess(c.PeftVersion, "0.18.0")) {
		c.Series = orth.NeumannLegacy
		v := c.PeftVersion
		if v == "" {
			v = "missing"
		}
		warnings = append(warnings, fmt.Sprintf("%s: peft_version %s predates 0.18.0, so this OFT adapter was trained with PEFT 0.16–0.17's Cayley–Neumann series I + 2Q + … + 2Q^(k−1); orthotune reproduces that series (PEFT ≥ 0.18 would apply its new series instead)", path, v))
	}
	return c, warnings, nil
}

// ForceSeries selects the Cayley–Neumann series regardless of peft_version.
func (c *Config) ForceSeries(k orth.Kind) { c.Series = k }

// PinVersion keeps a legacy-series adapter's peft_version below 0.18.0
// when it is written, so readers still apply the series it was trained
// with.
func (c *Config) PinVersion() bool { return c.UseCayleyNeumann && c.Series == orth.NeumannLegacy }

// WithSeries is a load option that forces the Cayley–Neumann series of an
// OFT adapter (orth.Neumann: PEFT ≥ 0.18; orth.NeumannLegacy: PEFT
// 0.16–0.17) whatever its peft_version says. Other methods' configs are
// left alone.
func WithSeries(k orth.Kind) peft.LoadOption {
	return func(cfg peft.Config) error {
		if k != orth.Neumann && k != orth.NeumannLegacy {
			return fmt.Errorf("oft: %v is not a Cayley–Neumann series", orth.Cayley{Kind: k})
		}
		if c, ok := cfg.(*Config); ok {
			c.ForceSeries(k)
		}
		return nil
	}
}

// Resolve gives r precedence: a number of blocks set by name replaces the
// block size (peft.Resolver).
func (c *Config) Resolve() {
	if c.R > 0 {
		c.BlockSize = 0
	}
}

// Describe reports the Cayley parametrisation and, with COFT, the radius
// eps (peft.Describer).
func (c *Config) Describe() []peft.Diagnostic {
	out := []peft.Diagnostic{{Key: "rotation", Value: c.Cayley().String(), Format: "%s"}}
	if c.COFT {
		out = append(out, peft.Diagnostic{Key: "coft", Value: true},
			peft.Diagnostic{Key: "eps", Value: c.Eps, Format: "COFT (eps %g)"})
	}
	return out
}

// InferShape returns the input (and output) features of the layer that
// one oft_R.weight implies: rows·b; with block sharing, which stores one
// block whatever the layer's width, b, or b·r when the config sets r, so
// that the config resolves the stored block size for it (see LoadLayer).
func (c *Config) InferShape(module string, ts map[string]*tensor.Tensor) (in, out int, err error) {
	w := ts["oft_R.weight"]
	if len(w.Shape) != 2 {
		return 0, 0, fmt.Errorf("layer %s: oft_R.weight has shape %v, want (blocks, b(b−1)/2)", module, w.Shape)
	}
	b, err := orth.BlockSizeFromParams(w.Shape[1])
	if err != nil {
		return 0, 0, fmt.Errorf("layer %s: oft_R.weight has shape %v: %w", module, w.Shape, err)
	}
	in = w.Shape[0] * b
	if c.BlockShare {
		in = b
		if c.BlockSize == 0 && c.R > 0 {
			in = b * c.R
		}
	}
	return in, in, nil
}

// Cayley returns the rotation parametrisation the config selects.
func (c *Config) Cayley() orth.Cayley {
	if !c.UseCayleyNeumann {
		return orth.Cayley{Kind: orth.Exact}
	}
	return orth.Cayley{Kind: c.Series, Terms: c.NumCayleyNeumannTerms}
}

// Validate checks the fields as PEFT's OFTConfig does.
func (c *Config) Validate() error {
	switch {
	case c.PeftType != "OFT":
		return fmt.Errorf("peft_type %q, want \"OFT\"", c.PeftType)
	case c.R < 0 || c.BlockSize < 0:
		return fmt.Errorf("r (%d) and oft_block_size (%d) must not be negative", c.R, c.BlockSize)
	case (c.R != 0) == (c.BlockSize != 0):
		return fmt.Errorf("exactly one of r (%d) and oft_block_size (%d) must be non-zero", c.R, c.BlockSize)
	case c.ModuleDropout < 0 || c.ModuleDropout >= 1:
		return fmt.Errorf("module_dropout %v must be in [0, 1)", c.ModuleDropout)
	case c.COFT && !(c.Eps > 0) || math.IsInf(c.Eps, 0):
		return fmt.Errorf("eps %v must be positive and finite with coft", c.Eps)
	case c.UseCayleyNeumann && c.NumCayleyNeumannTerms <= 0:
		return fmt.Errorf("num_cayley_neumann_terms %d with use_cayley_neumann: want a positive number of terms (PEFT's default is 5): with none the rotation stays the identity and training changes nothing; set use_cayley_neumann false for the exact Cayley transform", c.NumCayleyNeumannTerms)
	}
	return c.ValidateShared()
}

// Suffixes lists the one tensor an OFT layer stores.
func (c *Config) Suffixes() []string { return []string{"oft_R.weight"} }

// CheckKeys refuses PEFT 0.14–0.15 OFT files (oft_r full block matrices
// with oft_s output scales, merged as W ← (R·Wᵀ)ᵀ ⊙ s), which the current
// format cannot express.
func (c *Config) CheckKeys(keys []string) error {
	for _, k := range keys {
		if strings.HasSuffix(k, ".oft_r") || strings.HasSuffix(k, ".oft_s") {
			return fmt.Errorf("tensor %q is from PEFT 0.14–0.15's OFT format (full oft_r block matrices plus oft_s output scales); current PEFT refuses it and orthotune cannot convert it exactly (the scales have no place in the current format) — retrain the adapter, or load it with PEFT 0.15 and merge it", k)
		}
	}
	return nil
}

// adjust returns the divisor of in nearest to p (ties to the smaller), or
// in when p ≥ in: PEFT's adjust_oft_parameters.
func adjust(in, p int) int {
	if p >= in {
		return in
	}
	higher := p
	for higher <= in && in%higher != 0 {
		higher++
	}
	lower := p
	for lower > 1 && in%lower != 0 {
		lower--
	}
	if p-lower <= higher-p {
		return lower
	}
	return higher
}

// blockSizeFor resolves the block size for a layer of in features,
// returning a warning when the configured value had to be adjusted.
func (c *Config) blockSizeFor(name string, in int) (b int, warning string) {
	if c.BlockSize != 0 {
		b = c.BlockSize
		if in%b != 0 || b > in {
			b = adjust(in, b)
			warning = fmt.Sprintf("%s: oft_block_size %d does not divide in_features %d; using %d", name, c.BlockSize, in, b)
		}
		return b, warning
	}
	r := c.R
	if in%r != 0 || r > in {
		r = adjust(in, r)
		warning = fmt.Sprintf("%s: r %d does not divide in_features %d; using r = %d", name, c.R, in, r)
	}
	return in / r, warning
}
