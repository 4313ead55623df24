package llama

import (
	"fmt"
	"math"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
)

// Config holds the config.json fields a Llama-family model uses.
type Config struct {
	ModelType      string
	Hidden         int
	Intermediate   int
	Layers         int
	Heads, KVHeads int
	HeadDim        int
	Vocab          int
	MaxPositions   int
	RMSNormEps     float64
	RopeTheta      float64
	InvFreq        []float64 // rotary inverse frequencies after rope_scaling
	TieEmbeddings  bool
	QKVBias        bool // q, k, v projections carry a bias
	OutBias        bool // o_proj carries a bias
	MLPBias        bool
	SlidingWindow  []int // per layer; 0 = full causal attention
}

// ParseConfig reads and checks the fields of a Llama, Mistral or Qwen2
// config.json.
func ParseConfig(c *model.Config) (*Config, error) {
	var cfg Config
	var err error
	get := func(dst *int, field string) {
		if err == nil {
			*dst, err = c.Int(field)
		}
	}
	if cfg.ModelType, err = c.String("model_type"); err != nil {
		return nil, err
	}
	get(&cfg.Hidden, "hidden_size")
	get(&cfg.Intermediate, "intermediate_size")
	get(&cfg.Layers, "num_hidden_layers")
	get(&cfg.Heads, "num_attention_heads")
	get(&cfg.Vocab, "vocab_size")
	get(&cfg.MaxPositions, "max_position_embeddings")
	if err != nil {
		return nil, err
	}
	if cfg.KVHeads, err = c.IntOr("num_key_value_heads", cfg.Heads); err != nil {
		return nil, err
	}
	if cfg.Hidden%cfg.Heads != 0 && !c.Has("head_dim") {
		return nil, fmt.Errorf("%s: hidden_size %d is not a multiple of num_attention_heads %d and head_dim is absent", c.Path, cfg.Hidden, cfg.Heads)
	}
	if cfg.HeadDim, err = c.IntOr("head_dim", cfg.Hidden/cfg.Heads); err != nil {
		return nil, err
	}
	if cfg.HeadDim%2 != 0 {
		return nil, fmt.Errorf("%s: field \"head_dim\": rotary embeddings need an even head width, got %d", c.Path, cfg.HeadDim)
	}
	if cfg.Heads%cfg.KVHeads != 0 {
		return nil, fmt.Errorf("%s: field \"num_key_value_heads\": %d does not divide num_attention_heads %d", c.Path, cfg.KVHeads, cfg.Heads)
	}
	if cfg.RMSNormEps, err = c.FloatOr("rms_norm_eps", 1e-6); err != nil {
		return nil, err
	}
	if cfg.RopeTheta, err = c.FloatOr("rope_theta", 10000); err != nil {
		return nil, err
	}
	if cfg.TieEmbeddings, err = c.BoolOr("tie_word_embeddings", false); err != nil {
		return nil, err
	}
	act, err := c.StringOr("hidden_act", "silu")
	if err != nil {
		return nil, err
	}
	if act != "silu" {
		return nil, fmt.Errorf("%s: field \"hidden_act\": %q is not supported (only \"silu\")", c.Path, act)
	}
	attnBias, err := c.BoolOr("attention_bias", false)
	if err != nil {
		return nil, err
	}
	cfg.QKVBias, cfg.OutBias = attnBias, attnBias
	if cfg.MLPBias, err = c.BoolOr("mlp_bias", false); err != nil {
		return nil, err
	}
	cfg.SlidingWindow = make([]int, cfg.Layers)
	switch cfg.ModelType {
	case "qwen2":
		// Qwen2 always has q/k/v biases and no o_proj bias.
		cfg.QKVBias, cfg.OutBias = true, false
		useSW, err := c.BoolOr("use_sliding_window", false)
		if err != nil {
			return nil, err
		}
		if useSW && c.Has("sliding_window") {
			w, err := c.Int("sliding_window")
			if err != nil {
				return nil, err
			}
			from, err := c.IntOr("max_window_layers", cfg.Layers)
			if err != nil {
				return nil, err
			}
			for i := from; i < cfg.Layers; i++ {
				cfg.SlidingWindow[i] = w
			}
		}
	case "mistral":
		if c.Has("sliding_window") {
			w, err := c.Int("sliding_window")
			if err != nil {
				return nil, err
			}
			for i := range cfg.SlidingWindow {
				cfg.SlidingWindow[i] = w
			}
		}
	}
	cfg.InvFreq = nn.DefaultInvFreq(cfg.HeadDim, cfg.RopeTheta)
	if err := applyRopeScaling(c, cfg.InvFreq); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// applyRopeScaling adjusts inverse frequencies for rope_scaling types that
// do not depend on the sequence length: "default", "linear" and "llama3".
func applyRopeScaling(c *model.Config, invFreq []float64) error {
	rs, err := c.Object("rope_scaling")
	if err != nil || rs == nil {
		return err
	}
	kind, err := rs.StringOr("rope_type", "")
	if err != nil {
		return err
	}
	if kind == "" {
		if kind, err = rs.String("type"); err != nil {
			return err
		}
	}
	switch kind {
	case "default":
		return nil
	case "linear":
		factor, err := rs.Float("factor")
		if err != nil {
			return err
		}
		for i := range invFreq {
			invFreq[i] /= factor
		}
		return nil
	case "llama3":
		factor, err := rs.Float("factor")
		if err != nil {
			return err
		}
		low, err := rs.Float("low_freq_factor")
		if err != nil {
			return err
		}
		high, err := rs.Float("high_freq_factor")
		if err != nil {
			return err
		}
		orig, err := rs.Float("original_max_position_embeddings")
		if err != nil {
			return err
		}
		lowWavelen, highWavelen := orig/low, orig/high
		for i, f := range invFreq {
			wavelen := 2 * math.Pi / f
			switch {
			case wavelen < highWavelen:
			case wavelen > lowWavelen:
				invFreq[i] = f / factor
			default:
				smooth := (orig/wavelen - low) / (high - low)
				invFreq[i] = (1-smooth)*f/factor + smooth*f
			}
		}
		return nil
	default:
		return fmt.Errorf("%s: field \"rope_type\": %q is not supported (supported: default, linear, llama3)", rs.Path, kind)
	}
}
