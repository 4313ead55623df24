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
	InvFreq        []float64         // rotary inverse frequencies after rope_scaling
	RopeScaling    model.RopeScaling // the rope_scaling applied to InvFreq
	TieEmbeddings  bool
	QKVBias        bool // q, k, v projections carry a bias
	OutBias        bool // o_proj carries a bias
	MLPBias        bool
	SlidingWindow  []int // per layer; 0 = full causal attention
	// QKNorm gives every attention a per-head RMSNorm of the queries and
	// one of the keys (weights self_attn.q_norm.weight and
	// self_attn.k_norm.weight, each of width HeadDim and shared by the
	// layer's heads), applied after the projections and before RoPE, with
	// RMSNormEps (Qwen3).
	QKNorm bool
	// HasPaddingIdx makes embedding row PaddingIdx get no gradient from the
	// lookup, as torch's nn.Embedding(padding_idx=PaddingIdx) (a tied output
	// head still contributes to it). The forward is unaffected.
	HasPaddingIdx bool
	PaddingIdx    int
}

// Variant is how one Llama-family architecture reads config.json where it
// differs from Llama. ParseConfigAs reads the fields every variant shares
// — the sizes, rms_norm_eps, rope_theta and rope_scaling (or transformers
// v5's rope_parameters),
// tie_word_embeddings, hidden_act (only "silu") and attention_bias (bias on
// q, k, v and o_proj) — and then calls Fields, which reads the variant's
// own fields and may override the shared ones.
type Variant struct {
	// DefaultHeadDim is head_dim when config.json has none; 0 means
	// hidden_size / num_attention_heads (which must then divide).
	DefaultHeadDim int
	// Fields reads the variant's own fields into cfg, whose SlidingWindow
	// is allocated (all zero: full attention). Its errors must name the
	// config file (c.Path) and the field. nil reads nothing more.
	Fields func(c *model.Config, cfg *Config) error
}

// variants are the model types this package registers.
var variants = map[string]Variant{
	"llama":   {Fields: llamaFields},
	"mistral": {Fields: mistralFields},
	"qwen2":   {Fields: qwen2Fields},
}

// llamaFields reads mlp_bias.
func llamaFields(c *model.Config, cfg *Config) (err error) {
	cfg.MLPBias, err = c.BoolOr("mlp_bias", false)
	return err
}

// mistralFields reads mlp_bias and sliding_window (every layer slides).
func mistralFields(c *model.Config, cfg *Config) error {
	if err := llamaFields(c, cfg); err != nil || !c.Has("sliding_window") {
		return err
	}
	w, err := c.Int("sliding_window")
	if err != nil {
		return err
	}
	for i := range cfg.SlidingWindow {
		cfg.SlidingWindow[i] = w
	}
	return nil
}

// qwen2Fields: q/k/v biases always, no o_proj bias, and sliding_window on
// layers from max_window_layers when use_sliding_window is set.
func qwen2Fields(c *model.Config, cfg *Config) error {
	if err := llamaFields(c, cfg); err != nil {
		return err
	}
	cfg.QKVBias, cfg.OutBias = true, false
	useSW, err := c.BoolOr("use_sliding_window", false)
	if err != nil || !useSW || !c.Has("sliding_window") {
		return err
	}
	w, err := c.Int("sliding_window")
	if err != nil {
		return err
	}
	from, err := c.IntOr("max_window_layers", cfg.Layers)
	if err != nil {
		return err
	}
	for i := from; i < cfg.Layers; i++ {
		cfg.SlidingWindow[i] = w
	}
	return nil
}

// ParseConfig reads and checks the fields of a Llama, Mistral or Qwen2
// config.json (by its model_type). Sizes are checked by arithmetic before
// anything is allocated: no tensor may exceed model.MaxTensorElements nor
// the decoder blocks model.MaxParameters.
func ParseConfig(c *model.Config) (*Config, error) {
	v, err := variantOf(c)
	if err != nil {
		return nil, err
	}
	return parseConfig(c, nil, v)
}

// ParseConfigAs is ParseConfig for another architecture that shares
// Llama's block: the shared fields, then v's (see Variant).
func ParseConfigAs(c *model.Config, v Variant) (*Config, error) { return parseConfig(c, nil, v) }

// Builder returns the model.Builder of a variant, for an architecture
// package to register under its model_type: it parses config.json as
// ParseConfigAs does, checks the checkpoint's shapes against the config
// before allocating, and builds the model with New.
func Builder(v Variant) model.Builder {
	return func(c *model.Config, w *model.Weights) (model.CausalLM, error) {
		cfg, err := parseConfig(c, w, v)
		if err != nil {
			return nil, err
		}
		return New(cfg, w)
	}
}

// variantOf returns the registered variant of c's model_type.
func variantOf(c *model.Config) (Variant, error) {
	t, err := c.String("model_type")
	if err != nil {
		return Variant{}, err
	}
	v, ok := variants[t]
	if !ok {
		return Variant{}, fmt.Errorf("%s: field \"model_type\": %q is not one of package llama's (llama, mistral, qwen2)", c.Path, t)
	}
	return v, nil
}

// parseConfig is ParseConfigAs; given a checkpoint's weights (Load), it
// also checks that the checkpoint agrees with the sizes the config implies
// before allocating what those sizes alone decide (a sliding window per
// layer, head_dim/2 rotary frequencies).
func parseConfig(c *model.Config, w *model.Weights, v Variant) (*Config, error) {
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
	defHeadDim := v.DefaultHeadDim
	if defHeadDim == 0 {
		if cfg.Hidden%cfg.Heads != 0 && !c.Has("head_dim") {
			return nil, fmt.Errorf("%s: hidden_size %d is not a multiple of num_attention_heads %d and head_dim is absent", c.Path, cfg.Hidden, cfg.Heads)
		}
		defHeadDim = cfg.Hidden / cfg.Heads
	}
	if cfg.HeadDim, err = c.IntOr("head_dim", defHeadDim); err != nil {
		return nil, err
	}
	if cfg.HeadDim%2 != 0 {
		return nil, fmt.Errorf("%s: field \"head_dim\": rotary embeddings need an even head width, got %d", c.Path, cfg.HeadDim)
	}
	if cfg.Heads%cfg.KVHeads != 0 {
		return nil, fmt.Errorf("%s: field \"num_key_value_heads\": %d does not divide num_attention_heads %d", c.Path, cfg.KVHeads, cfg.Heads)
	}
	if err := checkSizes(c, &cfg, w, v.DefaultHeadDim == 0); err != nil {
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
	cfg.SlidingWindow = make([]int, cfg.Layers)
	if v.Fields != nil {
		if err := v.Fields(c, &cfg); err != nil {
			return nil, err
		}
	}
	ropeField, err := ropeParameters(c, &cfg)
	if err != nil {
		return nil, err
	}
	// A tiny positive rope_theta or scaling factor can still overflow the
	// frequencies.
	cfg.InvFreq = nn.DefaultInvFreq(cfg.HeadDim, cfg.RopeTheta)
	if i := slices.IndexFunc(cfg.InvFreq, notFinite); i >= 0 {
		return nil, fmt.Errorf("%s: field \"rope_theta\" = %g gives rotary frequency %d = %g: want finite frequencies", c.Path, cfg.RopeTheta, i, cfg.InvFreq[i])
	}
	if cfg.RopeScaling, err = applyRopeScaling(c, ropeField, cfg.InvFreq); err != nil {
		return nil, err
	}
	if i := slices.IndexFunc(cfg.InvFreq, notFinite); i >= 0 {
		return nil, fmt.Errorf("%s: field %q gives rotary frequency %d = %g: want finite frequencies", c.Path, ropeField, i, cfg.InvFreq[i])
	}
	return &cfg, nil
}

func notFinite(f float64) bool { return math.IsInf(f, 0) || math.IsNaN(f) }

// checkSizes refuses sizes no tensor could have (model.Config.Elements)
// and, given a checkpoint's weights, sizes its tensors contradict, naming
// the config.json fields either way. headDimFromHidden says that an absent head_dim means hidden_size /
// num_attention_heads, so that q_proj's rows are hidden_size.
func checkSizes(c *model.Config, cfg *Config, w *model.Weights, headDimFromHidden bool) error {
	hidden := model.Dim{Field: "hidden_size", N: cfg.Hidden}
	headDim := model.Dim{Field: "head_dim", N: cfg.HeadDim}
	inter := model.Dim{Field: "intermediate_size", N: cfg.Intermediate}
	q := []model.Dim{{Field: "num_attention_heads", N: cfg.Heads}, headDim}
	kv := []model.Dim{{Field: "num_key_value_heads", N: cfg.KVHeads}, headDim}
	if !c.Has("head_dim") && headDimFromHidden {
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
	perLayer := 2*d + 2*cfg.HeadDim + (qd+2*kvd)*(d+1) + (qd+1)*d + 3*in*d + 2*in + d // norms, attention, MLP, with biases
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

// ropeParameters reads transformers v5's rope_parameters, which replaces
// rope_theta and rope_scaling with one object ({"rope_type": …,
// "rope_theta": …, the type's own keys}): it sets cfg.RopeTheta from it and
// returns the field the rotary scaling is to be read from, rope_parameters
// or (4.x configs) rope_scaling. Both given, or a rope_theta in each that
// disagree, are refused as ambiguous.
func ropeParameters(c *model.Config, cfg *Config) (string, error) {
	if !c.Has("rope_parameters") {
		return "rope_scaling", nil
	}
	if c.Has("rope_scaling") {
		return "", fmt.Errorf("%s: fields \"rope_parameters\" and \"rope_scaling\" are both given: want one (transformers v5 writes rope_parameters, 4.x rope_scaling)", c.Path)
	}
	rp, err := c.Object("rope_parameters")
	if err != nil || !rp.Has("rope_theta") {
		return "rope_parameters", err
	}
	theta, err := rp.PositiveFloat("rope_theta")
	if err != nil {
		return "", err
	}
	if c.Has("rope_theta") && theta != cfg.RopeTheta {
		return "", fmt.Errorf("%s: field \"rope_theta\" = %g disagrees with rope_parameters' rope_theta = %g", c.Path, cfg.RopeTheta, theta)
	}
	cfg.RopeTheta = theta
	return "rope_parameters", nil
}

// applyRopeScaling adjusts inverse frequencies for the rotary scaling
// config.json gives in field (rope_scaling, or v5's rope_parameters):
// the types that do not depend on the sequence length, "default",
// "linear" and "llama3".
func applyRopeScaling(c *model.Config, field string, invFreq []float64) (model.RopeScaling, error) {
	rs, err := c.Object(field)
	if err != nil || rs == nil {
		return model.RopeScaling{}, err
	}
	kind, err := rs.StringOr("rope_type", "")
	if err != nil {
		return model.RopeScaling{}, err
	}
	if kind == "" {
		if kind, err = rs.String("type"); err != nil {
			return model.RopeScaling{}, err
		}
	}
	switch kind {
	case "default":
		return model.RopeScaling{Type: kind}, nil
	case "linear":
		factor, err := rs.PositiveFloat("factor")
		if err != nil {
			return model.RopeScaling{}, err
		}
		for i := range invFreq {
			invFreq[i] /= factor
		}
		return model.RopeScaling{Type: kind, Factor: factor}, nil
	case "llama3":
		factor, err := rs.PositiveFloat("factor")
		if err != nil {
			return model.RopeScaling{}, err
		}
		low, err := rs.PositiveFloat("low_freq_factor")
		if err != nil {
			return model.RopeScaling{}, err
		}
		high, err := rs.PositiveFloat("high_freq_factor")
		if err != nil {
			return model.RopeScaling{}, err
		}
		if high <= low {
			return model.RopeScaling{}, fmt.Errorf("%s: field \"high_freq_factor\" = %g: want more than low_freq_factor %g", rs.Path, high, low)
		}
		orig, err := rs.PositiveFloat("original_max_position_embeddings")
		if err != nil {
			return model.RopeScaling{}, err
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
		return model.RopeScaling{Type: kind, Factor: factor}, nil
	default:
		return model.RopeScaling{}, fmt.Errorf("%s: field \"rope_type\": %q is not supported (supported: default, linear, llama3)", rs.Path, kind)
	}
}
