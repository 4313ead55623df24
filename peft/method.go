package peft

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Method is a PEFT method plugged into orthotune. A method package
// registers one with RegisterMethod from its init function and brings
// everything method-specific with it: its config (fields, defaults,
// validation, layer construction and loading, see Config), its layers
// (forward, backward, merging, replicas, diagnostics, see Layer) and, in
// the config's struct tags, the settings users set by name (see Settings).
// Importing the package is all it takes to make the method available to
// the library pipeline and the command line.
type Method struct {
	// Name is what users call the method (orthotune train --method NAME),
	// e.g. "oft".
	Name string
	// PeftType is the adapter_config.json peft_type, e.g. "OFT".
	PeftType string
	// Summary is a one-line description for help texts.
	Summary string
	// NewConfig returns a config with PEFT's defaults targeting targets.
	NewConfig func(targets ModuleList) Config
	// Parse decodes adapter_config.json bytes (path for messages). It may
	// return warnings (e.g. a legacy format reproduced) besides a config.
	Parse func(path string, data []byte) (Config, []string, error)
}

var (
	methodsMu  sync.RWMutex
	byPeftType = map[string]Method{}
	byName     = map[string]Method{}
)

// RegisterMethod makes a method available by name and peft_type. It
// panics on a duplicate or an incomplete Method, as either is a
// programming error.
func RegisterMethod(m Method) {
	if m.Name == "" || m.PeftType == "" || m.NewConfig == nil || m.Parse == nil {
		panic("peft: RegisterMethod needs Name, PeftType, NewConfig and Parse")
	}
	if _, err := settingsOf(m.NewConfig(ModuleList{})); err != nil {
		panic("peft: RegisterMethod " + m.Name + ": " + err.Error())
	}
	methodsMu.Lock()
	defer methodsMu.Unlock()
	if _, dup := byPeftType[m.PeftType]; dup {
		panic("peft: RegisterMethod called twice for " + m.PeftType)
	}
	if _, dup := byName[m.Name]; dup {
		panic("peft: RegisterMethod called twice for " + m.Name)
	}
	byPeftType[m.PeftType], byName[m.Name] = m, m
}

// Methods returns the registered methods, sorted by name.
func Methods() []Method {
	methodsMu.RLock()
	defer methodsMu.RUnlock()
	out := make([]Method, 0, len(byName))
	for _, m := range byName {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// MethodNames returns the registered methods' names, sorted.
func MethodNames() []string {
	var out []string
	for _, m := range Methods() {
		out = append(out, m.Name)
	}
	return out
}

// LookupMethod returns the method registered under name.
func LookupMethod(name string) (Method, bool) {
	methodsMu.RLock()
	defer methodsMu.RUnlock()
	m, ok := byName[name]
	return m, ok
}

// MethodOf returns the registered method a config belongs to (by its
// peft_type).
func MethodOf(cfg Config) (Method, bool) {
	methodsMu.RLock()
	defer methodsMu.RUnlock()
	m, ok := byPeftType[cfg.Base().PeftType]
	return m, ok
}

// PeftTypes returns the registered peft_type values, sorted.
func PeftTypes() []string {
	methodsMu.RLock()
	defer methodsMu.RUnlock()
	var out []string
	for k := range byPeftType {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TrainingConfig returns the config a new training run of m starts from:
// PEFT's defaults (NewConfig) with the settings' `default` tags applied
// (where orthotune's default for a new adapter differs from PEFT's, such
// as LoRA's lora_alpha), targets unset (the model's PEFT default applies,
// see DefaultTargets).
func (m Method) TrainingConfig() Config {
	cfg := m.NewConfig(ModuleList{})
	settings, _ := settingsOf(cfg) // checked by RegisterMethod
	for _, s := range settings {
		if s.def != "" {
			if err := s.Set(s.def); err != nil {
				panic(fmt.Sprintf("peft: %s: default %q of %s: %v", m.Name, s.def, s.Flag, err))
			}
		}
	}
	return cfg
}

// Setting is one user-settable field of a method's config, declared by
// struct tags on the field:
//
//	flag:"oft-block-size"           the command-line flag (required)
//	help:"OFT block size b"          its help text (required)
//	alias:"lora-rank"                other accepted names, comma-separated
//	negate:"exact-cayley"            a boolean flag that sets the opposite
//	negatehelp:"exact Cayley …"      that flag's help text
//	default:"16"                     a new adapter's default, where it differs from PEFT's
//
// The field's json tag is PEFT's adapter_config.json name, also accepted
// as a --config key. Fields are int, float64, bool or string.
type Setting struct {
	Flag       string   // command-line flag name, e.g. "oft-block-size"
	Key        string   // PEFT's field name, e.g. "oft_block_size"
	Aliases    []string // other names (flags or config keys) for the same setting
	Negate     string   // a boolean flag name that sets the opposite value, or ""
	NegateHelp string   // its help text
	Help       string   // help text
	def        string
	field      reflect.Value
}

// Ptr returns a pointer to the config field the setting sets: *int,
// *float64, *bool or *string.
func (s Setting) Ptr() any { return s.field.Addr().Interface() }

// Value returns the field's current value.
func (s Setting) Value() any { return s.field.Interface() }

// Set parses text into the field as the flag package does for its type.
func (s Setting) Set(text string) error {
	switch s.field.Kind() {
	case reflect.Int:
		n, err := strconv.ParseInt(strings.TrimSpace(text), 0, strconv.IntSize)
		if err != nil {
			return fmt.Errorf("%s: want an integer, got %q", s.Key, text)
		}
		s.field.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return fmt.Errorf("%s: want a number, got %q", s.Key, text)
		}
		s.field.SetFloat(f)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("%s: want true or false, got %q", s.Key, text)
		}
		s.field.SetBool(b)
	case reflect.String:
		s.field.SetString(text)
	}
	return nil
}

// Names lists every name the setting answers to: the flag, the PEFT key,
// the aliases and the negated flag, with dashes as in flag names.
func (s Setting) Names() []string {
	out := []string{s.Flag, strings.ReplaceAll(s.Key, "_", "-")}
	out = append(out, s.Aliases...)
	if s.Negate != "" {
		out = append(out, s.Negate)
	}
	return out
}

// Settings returns the settable fields of cfg, a pointer to a method's
// config struct, in declaration order; the returned settings write
// through to cfg.
func Settings(cfg Config) []Setting {
	s, err := settingsOf(cfg)
	if err != nil {
		panic("peft: " + err.Error())
	}
	return s
}

func settingsOf(cfg Config) ([]Setting, error) {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config %T is not a pointer to a struct", cfg)
	}
	v = v.Elem()
	t := v.Type()
	var out []Setting
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := f.Tag.Lookup("flag")
		if !ok {
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		s := Setting{Flag: name, Key: key, Help: f.Tag.Get("help"), Negate: f.Tag.Get("negate"),
			NegateHelp: f.Tag.Get("negatehelp"), def: f.Tag.Get("default"), field: v.Field(i)}
		if a := f.Tag.Get("alias"); a != "" {
			s.Aliases = strings.Split(a, ",")
		}
		switch {
		case key == "" || key == "-":
			return nil, fmt.Errorf("%s.%s has a flag tag but no json name", t.Name(), f.Name)
		case s.Help == "":
			return nil, fmt.Errorf("%s.%s has no help tag", t.Name(), f.Name)
		case s.Negate != "" && f.Type.Kind() != reflect.Bool:
			return nil, fmt.Errorf("%s.%s: negate applies to booleans only", t.Name(), f.Name)
		}
		switch f.Type.Kind() {
		case reflect.Int, reflect.Float64, reflect.Bool, reflect.String:
		default:
			return nil, fmt.Errorf("%s.%s: a setting must be int, float64, bool or string, not %s", t.Name(), f.Name, f.Type)
		}
		out = append(out, s)
	}
	return out, nil
}

// SettingValues returns cfg's settings as a settings-file object: each
// value under its flag name with underscores (oft_block_size, lora_r).
func SettingValues(cfg Config) map[string]any {
	out := map[string]any{}
	for _, s := range Settings(cfg) {
		out[strings.ReplaceAll(s.Flag, "-", "_")] = s.Value()
	}
	return out
}

// Resolver is implemented by configs whose settings interact: Resolve
// settles them once every setting is applied (OFT: a number of blocks r
// given replaces the default block size).
type Resolver interface {
	Resolve()
}

// LoadSetting is a method's option for loading adapter files, offered by
// every command that loads one (OFT's choice of Cayley–Neumann series).
type LoadSetting struct {
	Flag    string // command-line flag name, e.g. "neumann-series"
	Default string
	Help    string
	// Option turns a value into a load option; "" or Default may return nil.
	Option func(value string) (LoadOption, error)
}

var loadSettings []LoadSetting

// RegisterLoadSetting adds a load setting (from a method's init).
func RegisterLoadSetting(s LoadSetting) {
	methodsMu.Lock()
	defer methodsMu.Unlock()
	loadSettings = append(loadSettings, s)
	sort.Slice(loadSettings, func(i, j int) bool { return loadSettings[i].Flag < loadSettings[j].Flag })
}

// LoadSettings returns the registered load settings, by flag name.
func LoadSettings() []LoadSetting {
	methodsMu.RLock()
	defer methodsMu.RUnlock()
	return append([]LoadSetting(nil), loadSettings...)
}

// defaultTargets are PEFT's default target modules per model_type (its
// TRANSFORMERS_MODELS_TO_{OFT,LORA}_TARGET_MODULES_MAPPING, which agree
// for these architectures).
var defaultTargets = map[string][]string{
	"llama": {"q_proj", "v_proj"}, "mistral": {"q_proj", "v_proj"}, "qwen2": {"q_proj", "v_proj"},
	"qwen3": {"q_proj", "v_proj"}, "gemma3_text": {"q_proj", "v_proj"},
	"gpt2": {"c_attn"},
}

// DefaultTargets returns PEFT's default target modules for a model_type.
func DefaultTargets(modelType string) (ModuleList, error) {
	names, ok := defaultTargets[modelType]
	if !ok {
		return ModuleList{}, fmt.Errorf("target_modules: PEFT has no default for model_type %q; name the modules", modelType)
	}
	return Names(names...), nil
}

// ParseTargets reads target_modules as users write them in one string:
// comma-separated module names, "all-linear", or a regex (a string with
// regex characters and no comma); "" leaves them unset (the model's PEFT
// default applies, see DefaultTargets).
func ParseTargets(s string) ModuleList {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return ModuleList{}
	case s == AllLinear || strings.ContainsAny(s, `.*+?[]()|\^$`) && !strings.Contains(s, ","):
		return Pattern(s)
	}
	var names []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return Names(names...)
}

// FormatTargets is ParseTargets' inverse: the one-string form of l ("" when
// unset).
func FormatTargets(l ModuleList) string {
	switch {
	case !l.IsSet:
		return ""
	case l.IsPattern():
		return l.Pattern
	}
	return strings.Join(l.Names, ",")
}
