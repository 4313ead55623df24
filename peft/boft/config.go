package boft

import (
	"fmt"
	"math/bits"

	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

func init() {
	peft.RegisterMethod(peft.Method{
		Name: "boft", PeftType: "BOFT",
		Summary:   "butterfly orthogonal fine-tuning: products of block-diagonal Cayley rotations and butterfly permutations of each layer's input, with a learned output scale",
		NewConfig: func(targets peft.ModuleList) peft.Config { return NewConfig(targets) },
		Parse:     Parse,
	})
}

// Config is PEFT's BOFTConfig. The struct tags declare the settings users
// set by name (peft.Settings): the flag, PEFT's field name (json) and the
// help text.
type Config struct {
	peft.BaseConfig
	BlockSize   int     `json:"boft_block_size" flag:"boft-block-size" help:"BOFT block size b (PEFT boft_block_size; 0: use --boft-block-num)"`
	BlockNum    int     `json:"boft_block_num" flag:"boft-block-num" help:"BOFT number of blocks instead of --boft-block-size (PEFT boft_block_num; 0: use the block size)"`
	Factors     int     `json:"boft_n_butterfly_factor" flag:"boft-n-butterfly-factor" help:"BOFT number of butterfly factors (PEFT boft_n_butterfly_factor; 1: plain block-diagonal)"`
	Dropout     float64 `json:"boft_dropout" flag:"boft-dropout" help:"BOFT multiplicative dropout: fraction of one random factor's blocks replaced by the identity in training"`
	InitWeights bool    `json:"init_weights"`
}

// NewConfig returns a BOFTConfig with PEFT's defaults (block size 4, one
// butterfly factor, identity init) targeting the given modules.
func NewConfig(targets peft.ModuleList) *Config {
	c := defaults()
	c.TargetModules = targets
	return c
}

func defaults() *Config {
	return &Config{BaseConfig: peft.NewBaseConfig("BOFT"), BlockSize: 4, Factors: 1, InitWeights: true}
}

// Parse reads a BOFT adapter_config.json. Fields PEFT's BOFTConfig
// defaults are taken at their PEFT defaults when absent.
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

// Resolve gives the number of blocks precedence: a block number set by
// name replaces the default block size (peft.Resolver), as PEFT requires
// boft_block_size 0 with boft_block_num.
func (c *Config) Resolve() {
	if c.BlockNum > 0 {
		c.BlockSize = 0
	}
}

// Describe reports the rotation parametrisation (peft.Describer). The
// number of butterfly factors is each layer's (from boft_R's shape), in
// its diagnostics.
func (c *Config) Describe() []peft.Diagnostic {
	return []peft.Diagnostic{{Key: "rotation", Value: "exact Cayley", Format: "%s"}}
}

// Validate checks the fields as PEFT's BOFTConfig (and, for the factor,
// its layers with the CUDA extension) does.
func (c *Config) Validate() error {
	switch {
	case c.PeftType != "BOFT":
		return fmt.Errorf("peft_type %q, want \"BOFT\"", c.PeftType)
	case c.BlockSize < 0 || c.BlockNum < 0:
		return fmt.Errorf("boft_block_size (%d) and boft_block_num (%d) must not be negative", c.BlockSize, c.BlockNum)
	case c.BlockSize == 0 && c.BlockNum == 0:
		return fmt.Errorf("boft_block_size and boft_block_num are both 0: set exactly one of them")
	case c.BlockSize != 0 && c.BlockNum != 0:
		return fmt.Errorf("boft_block_size (%d) and boft_block_num (%d) are both set: set exactly one of them (PEFT's boft_block_size defaults to 4, so boft_block_num needs boft_block_size 0)", c.BlockSize, c.BlockNum)
	case c.Factors < 1:
		return fmt.Errorf("boft_n_butterfly_factor %d must be a positive integer", c.Factors)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("boft_dropout %v must be in [0, 1)", c.Dropout)
	}
	return c.ValidateShared()
}

// Suffixes lists the tensors a BOFT layer stores.
func (c *Config) Suffixes() []string { return []string{"boft_R", "boft_s"} }

// InferShape returns the input and output features that one module's
// boft_R (m, D, b, b) and boft_s (out, 1) imply: D·b and out.
func (c *Config) InferShape(module string, ts map[string]*tensor.Tensor) (in, out int, err error) {
	r, s := ts["boft_R"], ts["boft_s"]
	if err := checkR(module, r); err != nil {
		return 0, 0, err
	}
	if len(s.Shape) != 2 || s.Shape[1] != 1 || s.Shape[0] < 1 {
		return 0, 0, fmt.Errorf("layer %s: boft_s has shape %v, want (out_features, 1)", module, s.Shape)
	}
	return r.Shape[1] * r.Shape[2], s.Shape[0], nil
}

func checkR(module string, r *tensor.Tensor) error {
	if len(r.Shape) != 4 || r.Shape[2] != r.Shape[3] || r.Shape[0] < 1 || r.Shape[1] < 1 || r.Shape[2] < 1 {
		return fmt.Errorf("layer %s: boft_R has shape %v, want (factors, blocks, b, b)", module, r.Shape)
	}
	return nil
}

// resolve returns the block size and number of blocks PEFT gives a layer
// of n input features with m butterfly factors, or PEFT's refusal naming
// the layer and the numbers (BOFTLayer.update_layer with the CUDA
// extension).
func (c *Config) resolve(name string, n, m int) (b, d int, err error) {
	f := m - 1
	if c.BlockSize == 0 { // block-number form
		d = c.BlockNum
		switch {
		case n%d != 0:
			return 0, 0, fmt.Errorf("layer %s: boft_block_num %d does not divide in_features %d", name, d, n)
		case f != 0 && f > bits.Len(uint(d))-1:
			return 0, 0, fmt.Errorf("layer %s: boft_n_butterfly_factor %d is too large for boft_block_num %d: at most log2(%d) + 1 = %d", name, m, d, d, bits.Len(uint(d)))
		case f != 0 && d%(1<<f) != 0:
			return 0, 0, fmt.Errorf("layer %s: boft_block_num %d is not divisible by 2^(boft_n_butterfly_factor − 1) = %d", name, d, 1<<f)
		}
		b = n / d
	} else {
		b = c.BlockSize
		switch {
		case n%b != 0:
			return 0, 0, fmt.Errorf("layer %s: boft_block_size %d does not divide in_features %d", name, b, n)
		case f != 0 && (f >= 62 || n < b<<f || n%(b<<f) != 0):
			return 0, 0, fmt.Errorf("layer %s: boft_n_butterfly_factor %d is too large for boft_block_size %d and in_features %d: in_features must be a multiple of boft_block_size·2^(factor − 1) = %d", name, m, b, n, b<<min(f, 62))
		}
		d = n / b
	}
	if f != 0 && d%2 != 0 {
		return 0, 0, fmt.Errorf("layer %s: %d butterfly factors need an even number of blocks; in_features %d gives %d blocks of %d", name, m, n, d, b)
	}
	if f != 0 && b%2 != 0 {
		return 0, 0, fmt.Errorf("layer %s: %d butterfly factors need an even block size; in_features %d gives %d blocks of %d", name, m, n, d, b)
	}
	return b, d, nil
}
