package llama

import (
	"fmt"
	"math"
	"slices"

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
// config.json. Sizes are checked by arithmetic before anything is
// allocated: no tensor may exceed model.MaxTensorElements nor the decoder
// blocks model.MaxParameters.
func ParseConfig(c *model.Config) (*Config, error) { return parseConfig(c, nil) }

// parseConfig is ParseConfig; given a checkpoint's weights (Load), it also
// checks that the checkpoint agrees with the sizes the config implies
// before allocating what those sizes alone decide (a sliding window per
// layer, head_dim/2 rotary frequencies).
func parseConfig(c *model.Config, w *model.Weights) (*Config, error) {
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
	if err := checkSizes(c, &cfg, w); err != nil {
		return nil, err
	}
	if cfg.RMSNormEps, err = c.PositiveFloatOr("rms_norm_eps", 1e-6); err != nil {
		return nil, err
	}
	if cfg.RopeTheta, err = c.PositiveFloatOr("rope_theta", 10000); err != nil {
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
	// A tiny positive rope_theta or scaling factor can still overflow the
	// frequencies.
	cfg.InvFreq = nn.DefaultInvFreq(cfg.HeadDim, cfg.RopeTheta)
	if i := slices.IndexFunc(cfg.InvFreq, notFinite); i >= 0 {
		return nil, fmt.Errorf("%s: field \"rope_theta\" = %g gives rotary frequency %d = %g: want finite frequencies", c.Path, cfg.RopeTheta, i, cfg.InvFreq[i])
	}
	if err := applyRopeScaling(c, cfg.InvFreq); err != nil {
		return nil, err
	}
	if i := slices.IndexFunc(cfg.InvFreq, notFinite); i >= 0 {
		return nil, fmt.Errorf("%s: field \"rope_scaling\" gives rotary frequency %d = %g: want finite frequencies", c.Path, i, cfg.InvFreq[i])
	}
	return &cfg, nil
}

func notFinite(f float64) bool { return math.IsInf(f, 0) || math.IsNaN(f) }

// checkSizes refuses sizes no tensor could have (model.Config.Elements)
// and, given a checkpoint's weights, sizes its tensors contradict, naming
// the config.json fields either way.
func checkSizes(c *model.Config, cfg *Config, w *model.Weights) error {
	hidden := model.Dim{Field: "hidden_size", N: cfg.Hidden}
	headDim := model.Dim{Field: "head_dim", N: cfg.HeadDim}
	inter := model.Dim{Field: "intermediate_size", N: cfg.Intermediate}
	q := []model.Dim{{Field: "num_attention_heads", N: cfg.Heads}, headDim}
	kv := []model.Dim{{Field: "num_key_value_heads", N: cfg.KVHeads}, headDim}
	if !c.Has("head_dim") {
		q = []model.Dim{hidden} // num_attention_heads × (hidden_size / num_attention_heads)
	}
	for _, t := range []struct {
		name string
		dims []model.Dim
	}{
		{"model.embed_tokens.weight", []model.Dim{{Field: "vocab_size", N: cfg.Vocab}, hidden}},
		{"model.layers.0.self_attn.q_proj.weight", append(q, hidden)},
		{"model.layers.0.self_attn.k_proj.weight", append(kv, hidden)},
		{"model.layers.0.mlp.gate_proj.weight", []model.Dim{inter, hidden}},
	} {
		if _, err := c.Elements(t.name, model.MaxTensorElements, t.dims...); err != nil {
			return err
		}
	}
	// Every product below is at most a checked tensor's element count, so
	// the sum cannot overflow.
	d, qd, kvd, in := cfg.Hidden, cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim, cfg.Intermediate
	perLayer := 2*d + (qd+2*kvd)*(d+1) + (qd+1)*d + 3*in*d + 2*in + d // norms, attention, MLP, with biases
	if _, err := c.Elements("the decoder blocks", model.MaxParameters, model.Dim{Field: "num_hidden_layers", N: cfg.Layers}, model.Dim{N: perLayer}); err != nil {
		return err
	}
	if w == nil {
		return nil
	}
	last := fmt.Sprintf("model.layers.%d.", cfg.Layers-1)
	for _, t := range []struct {
		name   string
		fields []string
		shape  []int
	}{
		{"model.embed_tokens.weight", []string{"vocab_size", "hidden_size"}, []int{cfg.Vocab, d}},
		{"model.layers.0.self_attn.q_proj.weight", []string{"num_attention_heads", "head_dim", "hidden_size"}, []int{qd, d}},
		{"model.layers.0.self_attn.k_proj.weight", []string{"num_key_value_heads", "head_dim", "hidden_size"}, []int{kvd, d}},
		{"model.layers.0.mlp.gate_proj.weight", []string{"intermediate_size", "hidden_size"}, []int{in, d}},
		{last + "input_layernorm.weight", []string{"num_hidden_layers", "hidden_size"}, []int{d}},
	} {
		if err := w.CheckShape(c, t.fields, t.name, t.shape...); err != nil {
			return err
		}
	}
	return nil
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
		factor, err := rs.PositiveFloat("factor")
		if err != nil {
			return err
		}
		for i := range invFreq {
			invFreq[i] /= factor
		}
		return nil
	case "llama3":
		factor, err := rs.PositiveFloat("factor")
		if err != nil {
			return err
		}
		low, err := rs.PositiveFloat("low_freq_factor")
		if err != nil {
			return err
		}
		high, err := rs.PositiveFloat("high_freq_factor")
		if err != nil {
			return err
		}
		if high <= low {
			return fmt.Errorf("%s: field \"high_freq_factor\" = %g: want more than low_freq_factor %g", rs.Path, high, low)
		}
		orig, err := rs.PositiveFloat("original_max_position_embeddings")
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
