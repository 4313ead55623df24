package qwen3

import (
	"fmt"
	"math"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/model/llama"
)

// ModelType is the config.json model_type this package registers.
const ModelType = "qwen3"

// DefaultHeadDim is Qwen3Config's head_dim when config.json has none.
const DefaultHeadDim = 128

// Qwen3Config's defaults for the fields that decide which layers slide.
const (
	defaultSlidingWindow   = 4096
	defaultMaxWindowLayers = 28
)

// variant is Qwen3's reading of config.json on top of Llama's.
var variant = llama.Variant{DefaultHeadDim: DefaultHeadDim, Fields: fields}

func init() { model.Register(ModelType, llama.Builder(variant)) }

// ParseConfig reads and checks a Qwen3 config.json: the fields Llama
// shares (see llama.Variant), with head_dim defaulting to 128, then
// Qwen3's own (see the package documentation). Errors name the file and
// the field.
func ParseConfig(c *model.Config) (*llama.Config, error) { return llama.ParseConfigAs(c, variant) }

// fields reads the fields where Qwen3 differs from Llama into cfg.
func fields(c *model.Config, cfg *llama.Config) error {
	cfg.QKNorm = true
	// attention_bias (q, k, v and o_proj biases, as Llama), hidden_act,
	// rope_theta, rope_scaling or rope_parameters, rms_norm_eps and
	// tie_word_embeddings are the shared parser's; Qwen3 has no mlp_bias.
	if c.Null("head_dim") {
		// Qwen3Attention would multiply by None: transformers cannot
		// build such a model either.
		return fmt.Errorf("%s: field \"head_dim\" is null: want the width of one attention head (absent means %d)", c.Path, DefaultHeadDim)
	}
	drop, err := c.FloatOr("attention_dropout", 0)
	if err != nil {
		return err
	}
	if drop != 0 {
		return fmt.Errorf("%s: field \"attention_dropout\" = %g is not supported (only 0)", c.Path, drop)
	}
	if err := padding(c, cfg); err != nil {
		return err
	}
	return slidingWindows(c, cfg)
}

// nonNegativeInt returns an optional integer field that may be 0, def
// when absent.
func nonNegativeInt(c *model.Config, field string, def int) (int, error) {
	f, err := c.FloatOr(field, float64(def))
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || f < 0 || f > 1<<40 {
		return 0, fmt.Errorf("%s: field %q = %g: want an integer ≥ 0", c.Path, field, f)
	}
	return int(f), nil
}

// padding reads pad_token_id, the embedding's padding_idx.
func padding(c *model.Config, cfg *llama.Config) error {
	if !c.Has("pad_token_id") {
		return nil
	}
	id, err := nonNegativeInt(c, "pad_token_id", 0)
	if err != nil {
		return err
	}
	if id >= cfg.Vocab {
		return fmt.Errorf("%s: field \"pad_token_id\" = %d: want a token id below vocab_size %d", c.Path, id, cfg.Vocab)
	}
	cfg.HasPaddingIdx, cfg.PaddingIdx = true, id
	return nil
}

// slidingWindows sets cfg.SlidingWindow as Qwen3Config decides it: the
// window is sliding_window (default 4096; null means none) when
// use_sliding_window is true, and no window otherwise; the layers that use
// it are those layer_types names "sliding_attention" when layer_types is
// given, else layers max_window_layers (default 28) and above.
func slidingWindows(c *model.Config, cfg *llama.Config) error {
	use, err := c.BoolOr("use_sliding_window", false)
	if err != nil {
		return err
	}
	window := 0
	if use && !c.Null("sliding_window") {
		if window, err = c.IntOr("sliding_window", defaultSlidingWindow); err != nil {
			return err
		}
	}
	if c.Has("layer_types") {
		types, err := c.Strings("layer_types")
		if err != nil {
			return err
		}
		if len(types) != cfg.Layers {
			return fmt.Errorf("%s: field \"layer_types\" lists %d layers, num_hidden_layers is %d", c.Path, len(types), cfg.Layers)
		}
		for i, t := range types {
			switch t {
			case "full_attention":
			case "sliding_attention":
				if window == 0 {
					return fmt.Errorf("%s: field \"layer_types\": layer %d is \"sliding_attention\" but there is no window (use_sliding_window false or sliding_window null)", c.Path, i)
				}
				cfg.SlidingWindow[i] = window
			default:
				return fmt.Errorf("%s: field \"layer_types\": layer %d is %q, want \"full_attention\" or \"sliding_attention\"", c.Path, i, t)
			}
		}
		return nil
	}
	if window == 0 {
		return nil
	}
	from, err := nonNegativeInt(c, "max_window_layers", defaultMaxWindowLayers)
	if err != nil {
		return err
	}
	for i := from; i < cfg.Layers; i++ {
		cfg.SlidingWindow[i] = window
	}
	return nil
}
