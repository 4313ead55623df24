package lora

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"

	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

func init() {
	peft.RegisterMethod(peft.Method{
		Name: "lora", PeftType: "LORA", Summary: "low-rank adaptation: a trainable s·B·A added to each layer",
		NewConfig: func(targets peft.ModuleList) peft.Config { return NewConfig(targets) },
		Parse:     Parse,
	})
}

// Config is PEFT's LoraConfig. Fields orthotune does not implement are kept
// as raw JSON with PEFT's defaults, so configs round-trip; Validate refuses
// values that would change the computation (DoRA, lora_bias, …).
type Config struct {
	peft.BaseConfig
	R               int          `json:"r" flag:"lora-r" alias:"lora-rank" help:"LoRA rank r"`
	LoraAlpha       float64      `json:"lora_alpha" flag:"lora-alpha" default:"16" help:"LoRA alpha (scaling alpha/r, or alpha/√r with --use-rslora)"`
	LoraDropout     float64      `json:"lora_dropout" flag:"lora-dropout" help:"LoRA dropout probability"`
	UseRSLoRA       bool         `json:"use_rslora" flag:"use-rslora" help:"rank-stabilised LoRA scaling alpha/√r"`
	InitLoraWeights InitMode     `json:"init_lora_weights"`
	RankPattern     OrderedFloat `json:"rank_pattern"`
	AlphaPattern    OrderedFloat `json:"alpha_pattern"`

	AloraInvocationTokens json.RawMessage `json:"alora_invocation_tokens"`
	ArrowConfig           json.RawMessage `json:"arrow_config"`
	CordaConfig           json.RawMessage `json:"corda_config"`
	EnsureWeightTying     bool            `json:"ensure_weight_tying"`
	EvaConfig             json.RawMessage `json:"eva_config"`
	KasaConfig            json.RawMessage `json:"kasa_config"`
	LayerReplication      json.RawMessage `json:"layer_replication"`
	LoftqConfig           json.RawMessage `json:"loftq_config"`
	LoraBias              bool            `json:"lora_bias"`
	LoraGAConfig          json.RawMessage `json:"lora_ga_config"`
	MegatronConfig        json.RawMessage `json:"megatron_config"`
	MegatronCore          json.RawMessage `json:"megatron_core"`
	MontecloraConfig      json.RawMessage `json:"monteclora_config"`
	QaloraGroupSize       json.RawMessage `json:"qalora_group_size"`
	TargetParameters      json.RawMessage `json:"target_parameters"`
	TrainableTokenIndices json.RawMessage `json:"trainable_token_indices"`
	UseBDLoRA             json.RawMessage `json:"use_bdlora"`
	UseDoRA               bool            `json:"use_dora"`
	UseQALoRA             bool            `json:"use_qalora"`
	VeloraConfig          json.RawMessage `json:"velora_config"`
}

// NewConfig returns a LoraConfig with PEFT's defaults (r 8, alpha 8)
// targeting the given modules.
func NewConfig(targets peft.ModuleList) *Config {
	c := defaults()
	c.TargetModules = targets
	return c
}

func defaults() *Config {
	// Each field gets a slice of its own: decoding into a RawMessage reuses
	// its bytes, so one shared "null" would be overwritten for every field.
	null := func() json.RawMessage { return json.RawMessage("null") }
	return &Config{
		BaseConfig: peft.NewBaseConfig("LORA"),
		R:          8, LoraAlpha: 8, InitLoraWeights: InitMode{IsBool: true, Bool: true},
		RankPattern: OrderedFloat{}, AlphaPattern: OrderedFloat{},
		AloraInvocationTokens: null(), ArrowConfig: null(), CordaConfig: null(), EvaConfig: null(), KasaConfig: null(),
		LayerReplication: null(), LoftqConfig: json.RawMessage("{}"), LoraGAConfig: null(), MegatronConfig: null(),
		MegatronCore: json.RawMessage(`"megatron.core"`), MontecloraConfig: null(), QaloraGroupSize: json.RawMessage("16"),
		TargetParameters: null(), TrainableTokenIndices: null(), UseBDLoRA: null(), VeloraConfig: null(),
	}
}

// Parse reads a LORA adapter_config.json.
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
	if !c.InitLoraWeights.IsBool {
		warnings = append(warnings, fmt.Sprintf("%s: init_lora_weights %q only shapes a fresh adapter's initialisation; the stored weights are used as plain LoRA", path, c.InitLoraWeights.Name))
	}
	return c, warnings, nil
}

func isNull(m json.RawMessage) bool {
	m = bytes.TrimSpace(m)
	return len(m) == 0 || string(m) == "null"
}

// Validate checks the fields and refuses LoRA variants orthotune does not
// compute.
func (c *Config) Validate() error {
	switch {
	case c.PeftType != "LORA":
		return fmt.Errorf("peft_type %q, want \"LORA\"", c.PeftType)
	case c.R <= 0:
		return fmt.Errorf("r must be positive, got %d", c.R)
	case c.LoraDropout < 0 || c.LoraDropout >= 1:
		return fmt.Errorf("lora_dropout %v must be in [0, 1)", c.LoraDropout)
	case c.UseDoRA:
		return fmt.Errorf("use_dora: DoRA is not supported")
	case c.LoraBias:
		return fmt.Errorf("lora_bias: a bias on lora_B is not supported")
	case c.UseQALoRA:
		return fmt.Errorf("use_qalora: QA-LoRA is not supported")
	case !isNull(c.LayerReplication):
		return fmt.Errorf("layer_replication is not supported")
	case !isNull(c.TargetParameters):
		return fmt.Errorf("target_parameters (LoRA on parameters, not modules) is not supported")
	case !isNull(c.TrainableTokenIndices):
		return fmt.Errorf("trainable_token_indices is not supported")
	case !isNull(c.AloraInvocationTokens):
		return fmt.Errorf("alora_invocation_tokens (activated LoRA) is not supported")
	}
	if err := c.ValidateShared(); err != nil {
		return err
	}
	for _, e := range c.RankPattern.Entries {
		if e.Value <= 0 || e.Value != math.Trunc(e.Value) {
			return fmt.Errorf("rank_pattern[%q] = %v: want a positive integer", e.Key, e.Value)
		}
	}
	for _, p := range []OrderedFloat{c.RankPattern, c.AlphaPattern} {
		for _, e := range p.Entries {
			if _, err := patternRegexp(e.Key); err != nil {
				return fmt.Errorf("pattern key %q: %w", e.Key, err)
			}
		}
	}
	return nil
}

// InferShape returns the layer's input features (lora_A's columns) and
// output features (lora_B's rows).
func (c *Config) InferShape(module string, ts map[string]*tensor.Tensor) (in, out int, err error) {
	a, b := ts["lora_A.weight"], ts["lora_B.weight"]
	if len(a.Shape) != 2 || len(b.Shape) != 2 {
		return 0, 0, fmt.Errorf("layer %s: lora_A.weight %v and lora_B.weight %v must be matrices", module, a.Shape, b.Shape)
	}
	return a.Shape[1], b.Shape[0], nil
}

// Suffixes lists the tensors a LoRA layer stores.
func (c *Config) Suffixes() []string { return []string{"lora_A.weight", "lora_B.weight"} }

func patternRegexp(key string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(.*\.)?(` + key + `)$`)
}

// RankAlpha returns a module's rank and alpha: the first rank_pattern /
// alpha_pattern key k (in file order) whose regex (.*\.)?(k)$ matches the
// module name, else r and lora_alpha.
func (c *Config) RankAlpha(module string) (int, float64) {
	r, alpha := c.R, c.LoraAlpha
	if v, ok := c.RankPattern.lookup(module); ok {
		r = int(v)
	}
	if v, ok := c.AlphaPattern.lookup(module); ok {
		alpha = v
	}
	return r, alpha
}

// Scaling returns s = alpha/r, or alpha/√r with use_rslora.
func (c *Config) Scaling(r int, alpha float64) float64 {
	if c.UseRSLoRA {
		return alpha / math.Sqrt(float64(r))
	}
	return alpha / float64(r)
}

// InitMode is init_lora_weights: true, false, or a named scheme.
type InitMode struct {
	IsBool bool
	Bool   bool
	Name   string // "gaussian", "pissa", … when not a boolean
}

// UnmarshalJSON accepts a boolean or a string.
func (m *InitMode) UnmarshalJSON(data []byte) error {
	var b bool
	if err := json.Unmarshal(data, &b); err == nil {
		*m = InitMode{IsBool: true, Bool: b}
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("init_lora_weights: want true, false or a scheme name, got %s", data)
	}
	*m = InitMode{Name: s}
	return nil
}

// MarshalJSON writes the boolean or the name.
func (m InitMode) MarshalJSON() ([]byte, error) {
	if m.IsBool {
		return json.Marshal(m.Bool)
	}
	return json.Marshal(m.Name)
}

// OrderedFloat is a JSON object of numbers that remembers key order (PEFT
// takes the first matching pattern in dict order).
type OrderedFloat struct {
	Entries []FloatEntry
}

// FloatEntry is one key of an OrderedFloat.
type FloatEntry struct {
	Key   string
	Value float64
}

// UnmarshalJSON reads an object of numbers (or null) in file order.
func (o *OrderedFloat) UnmarshalJSON(data []byte) error {
	o.Entries = nil
	if string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("want an object of numbers, got %s", data)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		var v float64
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("key %q: want a number: %w", key, err)
		}
		// A repeated key keeps its first place and takes the last value,
		// as Python's json.loads builds the dict PEFT reads.
		if i := slices.IndexFunc(o.Entries, func(e FloatEntry) bool { return e.Key == key }); i >= 0 {
			o.Entries[i].Value = v
			continue
		}
		o.Entries = append(o.Entries, FloatEntry{key, v})
	}
	_, err := dec.Token()
	return err
}

// MarshalJSON writes the object (keys sorted, as PEFT's sort_keys does).
func (o OrderedFloat) MarshalJSON() ([]byte, error) {
	m := map[string]float64{}
	for _, e := range o.Entries {
		m[e.Key] = e.Value
	}
	return json.Marshal(m)
}

func (o OrderedFloat) lookup(module string) (float64, bool) {
	for _, e := range o.Entries {
		if re, err := patternRegexp(e.Key); err == nil && re.MatchString(module) {
			return e.Value, true
		}
	}
	return 0, false
}
