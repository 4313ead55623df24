package gemma3

import (
	"fmt"
	"math"
	"slices"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
)

// ModelType is the config.json model_type this package registers.
const ModelType = "gemma3_text"

// Layer types as config.json's layer_types spells them.
const (
	SlidingAttention = "sliding_attention"
	FullAttention    = "full_attention"
)

// Config holds the config.json fields a Gemma 3 text model uses, with
// transformers' Gemma3TextConfig defaults for absent fields.
type Config struct {
	Hidden, Intermediate, Layers int
	Heads, KVHeads, HeadDim      int
	Vocab, MaxPositions          int
	RMSNormEps                   float64
	// AttnScale multiplies q·kᵀ: query_pre_attn_scalar^−½.
	AttnScale float64
	GELU      nn.GELUKind // hidden_activation
	// LayerTypes holds SlidingAttention or FullAttention per layer.
	LayerTypes    []string
	SlidingWindow int // keys a sliding layer's query sees, itself included
	// GlobalInvFreq and LocalInvFreq are the rotary inverse frequencies of
	// full layers (rope_theta, after rope_scaling) and of sliding layers
	// (rope_local_base_freq, never scaled).
	GlobalInvFreq, LocalInvFreq []float64
	// GlobalRope and LocalRope are the rotary bases and scaling those
	// frequencies were computed from.
	GlobalRope, LocalRope Rope
	// FinalSoftcap is final_logit_softcapping, 0 when null.
	FinalSoftcap  float64
	AttentionBias bool // q, k, v and o_proj carry a bias
	TieEmbeddings bool
	// PadToken is the embedding row that gets no gradient from the lookup
	// (torch's padding_idx), −1 when pad_token_id is null.
	PadToken int
	// EmbedScale multiplies the input embeddings: float32(√hidden_size),
	// as transformers holds it for a float32 model.
	EmbedScale float32
}

// Sliding reports whether layer i is a sliding-window layer.
func (c *Config) Sliding(i int) bool { return c.LayerTypes[i] == SlidingAttention }

// ParseConfig reads and checks the fields of a Gemma 3 text config.json,
// refusing by name each value orthotune cannot honour. Sizes are checked by
// arithmetic before anything is allocated: no tensor may exceed
// model.MaxTensorElements nor the decoder blocks model.MaxParameters.
func ParseConfig(c *model.Config) (*Config, error) { return parseConfig(c, nil) }

// parseConfig is ParseConfig; given a checkpoint's weights (Load), it also
// checks that the checkpoint agrees with the sizes the config implies.
func parseConfig(c *model.Config, w *model.Weights) (*Config, error) {
	mt, err := c.String("model_type")
	if err != nil {
		return nil, err
	}
	if mt != ModelType {
		return nil, fmt.Errorf("%s: field \"model_type\": %q is not %q", c.Path, mt, ModelType)
	}
	var cfg Config
	for _, f := range []struct {
		dst   *int
		field string
		def   int
	}{
		{&cfg.Vocab, "vocab_size", 262208},
		{&cfg.Hidden, "hidden_size", 2304},
		{&cfg.Intermediate, "intermediate_size", 9216},
		{&cfg.Layers, "num_hidden_layers", 26},
		{&cfg.Heads, "num_attention_heads", 8},
		{&cfg.KVHeads, "num_key_value_heads", 4},
		{&cfg.HeadDim, "head_dim", 256},
		{&cfg.MaxPositions, "max_position_embeddings", 131072},
	} {
		if *f.dst, err = c.IntOr(f.field, f.def); err != nil {
			return nil, err
		}
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
	scalar, err := c.PositiveFloatOr("query_pre_attn_scalar", 256)
	if err != nil {
		return nil, err
	}
	cfg.AttnScale = 1 / math.Sqrt(scalar)
	act, err := c.StringOr("hidden_activation", "gelu_pytorch_tanh")
	if err != nil {
		return nil, err
	}
	switch act {
	case "gelu_pytorch_tanh", "gelu_new":
		cfg.GELU = nn.GELUTanh
	case "gelu":
		cfg.GELU = nn.GELUExact
	default:
		return nil, fmt.Errorf("%s: field \"hidden_activation\": %q is not supported (supported: gelu_pytorch_tanh, gelu_new, gelu)", c.Path, act)
	}
	if err := parseLayerTypes(c, &cfg); err != nil {
		return nil, err
	}
	if err := parseRope(c, &cfg); err != nil {
		return nil, err
	}
	if c.Has("final_logit_softcapping") {
		if cfg.FinalSoftcap, err = c.PositiveFloat("final_logit_softcapping"); err != nil {
			return nil, err
		}
	}
	// transformers' Gemma3Attention keeps attn_logit_softcapping but never
	// applies it (Gemma 2 does): a number is accepted and has no effect.
	if _, err := c.FloatOr("attn_logit_softcapping", 0); err != nil {
		return nil, err
	}
	dropout, err := c.FloatOr("attention_dropout", 0)
	if err != nil {
		return nil, err
	}
	if dropout != 0 {
		return nil, fmt.Errorf("%s: field \"attention_dropout\" = %g: dropout on attention probabilities is not supported (want 0)", c.Path, dropout)
	}
	bidir, err := c.BoolOr("use_bidirectional_attention", false)
	if err != nil {
		return nil, err
	}
	if bidir {
		return nil, fmt.Errorf("%s: field \"use_bidirectional_attention\": true makes an encoder (EmbeddingGemma), not a causal LM", c.Path)
	}
	if cfg.AttentionBias, err = c.BoolOr("attention_bias", false); err != nil {
		return nil, err
	}
	if cfg.TieEmbeddings, err = c.BoolOr("tie_word_embeddings", true); err != nil {
		return nil, err
	}
	cfg.PadToken = -1
	if !c.Null("pad_token_id") {
		pad, err := c.FloatOr("pad_token_id", 0)
		if err != nil {
			return nil, err
		}
		if pad != math.Trunc(pad) || pad < 0 || pad >= float64(cfg.Vocab) {
			return nil, fmt.Errorf("%s: field \"pad_token_id\" = %g: want a token id in [0, vocab_size %d) or null", c.Path, pad, cfg.Vocab)
		}
		cfg.PadToken = int(pad)
	}
	cfg.EmbedScale = float32(math.Sqrt(float64(cfg.Hidden)))
	return &cfg, nil
}

// parseLayerTypes sets cfg.LayerTypes from layer_types, or else from
// sliding_window_pattern P (layer i is full iff (i+1) mod P = 0), and the
// sliding window when a layer slides.
func parseLayerTypes(c *model.Config, cfg *Config) error {
	types, err := c.StringsOr("layer_types", nil)
	if err != nil {
		return err
	}
	if types != nil {
		if len(types) != cfg.Layers {
			return fmt.Errorf("%s: field \"layer_types\" lists %d layers, num_hidden_layers is %d", c.Path, len(types), cfg.Layers)
		}
		for i, t := range types {
			if t != SlidingAttention && t != FullAttention {
				return fmt.Errorf("%s: field \"layer_types\": layer %d is %q (supported: %s, %s)", c.Path, i, t, SlidingAttention, FullAttention)
			}
		}
		cfg.LayerTypes = types
	} else {
		pattern, err := c.IntOr("sliding_window_pattern", 6)
		if err != nil {
			return err
		}
		cfg.LayerTypes = make([]string, cfg.Layers)
		for i := range cfg.LayerTypes {
			cfg.LayerTypes[i] = SlidingAttention
			if (i+1)%pattern == 0 {
				cfg.LayerTypes[i] = FullAttention
			}
		}
	}
	if !slices.Contains(cfg.LayerTypes, SlidingAttention) {
		return nil
	}
	if c.Null("sliding_window") {
		return fmt.Errorf("%s: field \"sliding_window\" is null but layer %d is %s", c.Path, slices.Index(cfg.LayerTypes, SlidingAttention), SlidingAttention)
	}
	cfg.SlidingWindow, err = c.IntOr("sliding_window", 4096)
	return err
}

// Rope is one layer type's rotary base and the scaling applied to it.
type Rope struct {
	Theta   float64
	Scaling model.RopeScaling
}

// parseRope computes the rotary frequencies of both layer types, from
// transformers v5's per-layer-type rope_parameters when present, else from
// rope_theta with rope_scaling (full layers) and rope_local_base_freq
// (sliding layers).
func parseRope(c *model.Config, cfg *Config) error {
	params, err := c.Object("rope_parameters")
	if err != nil {
		return err
	}
	if params != nil {
		for _, t := range []struct {
			layerType string
			dst       *[]float64
			rope      *Rope
		}{{FullAttention, &cfg.GlobalInvFreq, &cfg.GlobalRope}, {SlidingAttention, &cfg.LocalInvFreq, &cfg.LocalRope}} {
			p, err := params.Object(t.layerType)
			if err != nil {
				return err
			}
			if p == nil {
				if slices.Contains(cfg.LayerTypes, t.layerType) {
					return fmt.Errorf("%s: field \"rope_parameters\" has no %q entry (a per-layer-type object is expected)", c.Path, t.layerType)
				}
				continue
			}
			theta, err := p.PositiveFloat("rope_theta")
			if err != nil {
				return err
			}
			t.rope.Theta = theta
			if *t.dst, t.rope.Scaling, err = invFreq(p, cfg.HeadDim, theta, p); err != nil {
				return err
			}
		}
		return nil
	}
	theta, err := c.PositiveFloatOr("rope_theta", 1e6)
	if err != nil {
		return err
	}
	scaling, err := c.Object("rope_scaling")
	if err != nil {
		return err
	}
	cfg.GlobalRope.Theta = theta
	if cfg.GlobalInvFreq, cfg.GlobalRope.Scaling, err = invFreq(c, cfg.HeadDim, theta, scaling); err != nil {
		return err
	}
	if cfg.LocalRope.Theta, err = c.PositiveFloatOr("rope_local_base_freq", 10000); err != nil {
		return err
	}
	cfg.LocalInvFreq, _, err = invFreq(c, cfg.HeadDim, cfg.LocalRope.Theta, nil)
	return err
}

// invFreq returns θ^(−2i/d) divided by a "linear" scaling's factor, where
// scaling (rope_scaling, or a rope_parameters entry; nil for none) names
// its rope_type ("type" in older configs), and the scaling it applied. c
// names the file in messages.
func invFreq(c *model.Config, headDim int, theta float64, scaling *model.Config) ([]float64, model.RopeScaling, error) {
	var applied model.RopeScaling
	f := nn.DefaultInvFreq(headDim, theta)
	factor := 1.0
	if scaling != nil {
		kind, err := scaling.StringOr("rope_type", "")
		if err != nil {
			return nil, applied, err
		}
		if kind == "" {
			if kind, err = scaling.StringOr("type", "default"); err != nil {
				return nil, applied, err
			}
		}
		switch kind {
		case "default":
		case "linear":
			if factor, err = scaling.PositiveFloat("factor"); err != nil {
				return nil, applied, err
			}
			applied.Factor = factor
		default:
			return nil, applied, fmt.Errorf("%s: field \"rope_type\": %q is not supported for Gemma 3 (supported: default, linear)", scaling.Path, kind)
		}
		applied.Type = kind
	}
	for i := range f {
		f[i] /= factor
		if math.IsInf(f[i], 0) || math.IsNaN(f[i]) {
			return nil, applied, fmt.Errorf("%s: rotary base %g (scaling factor %g) gives frequency %d = %g: want finite frequencies", c.Path, theta, factor, i, f[i])
		}
	}
	return f, applied, nil
}

// checkSizes refuses sizes no tensor could have (model.Config.Elements)
// and, given a checkpoint's weights, sizes its tensors contradict, naming
// the config.json fields either way.
func checkSizes(c *model.Config, cfg *Config, w *model.Weights) error {
	hidden := model.Dim{Field: "hidden_size", N: cfg.Hidden}
	headDim := model.Dim{Field: "head_dim", N: cfg.HeadDim}
	inter := model.Dim{Field: "intermediate_size", N: cfg.Intermediate}
	for _, t := range []struct {
		name string
		dims []model.Dim
	}{
		{"model.embed_tokens.weight", []model.Dim{{Field: "vocab_size", N: cfg.Vocab}, hidden}},
		{"model.layers.0.self_attn.q_proj.weight", []model.Dim{{Field: "num_attention_heads", N: cfg.Heads}, headDim, hidden}},
		{"model.layers.0.self_attn.k_proj.weight", []model.Dim{{Field: "num_key_value_heads", N: cfg.KVHeads}, headDim, hidden}},
		{"model.layers.0.mlp.gate_proj.weight", []model.Dim{inter, hidden}},
	} {
		if _, err := c.Elements(t.name, model.MaxTensorElements, t.dims...); err != nil {
			return err
		}
	}
	// Every product below is at most a checked tensor's element count, so
	// the sum cannot overflow.
	d, qd, kvd, in := cfg.Hidden, cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim, cfg.Intermediate
	perLayer := 4*d + 2*cfg.HeadDim + (qd+2*kvd)*(d+1) + (qd+1)*d + 3*in*d // norms, attention with biases, MLP
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
		{"model.layers.0.self_attn.q_norm.weight", []string{"head_dim"}, []int{cfg.HeadDim}},
		{"model.layers.0.mlp.gate_proj.weight", []string{"intermediate_size", "hidden_size"}, []int{in, d}},
		{last + "input_layernorm.weight", []string{"num_hidden_layers", "hidden_size"}, []int{d}},
	} {
		if err := w.CheckShape(c, t.fields, t.name, t.shape...); err != nil {
			return err
		}
	}
	return nil
}
