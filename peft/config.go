package peft

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/tensor"
)

// MinWriteVersion is the peft_version orthotune writes: the first release
// with the current OFT Cayley–Neumann series and the peft_version field.
const MinWriteVersion = "0.18.0"

// BaseConfig holds the adapter_config.json fields every method shares.
type BaseConfig struct {
	PeftType            string          `json:"peft_type"`
	TaskType            *string         `json:"task_type"`
	InferenceMode       bool            `json:"inference_mode"`
	PeftVersion         string          `json:"peft_version,omitempty"`
	BaseModelNameOrPath *string         `json:"base_model_name_or_path"`
	Revision            *string         `json:"revision"`
	AutoMapping         json.RawMessage `json:"auto_mapping"`
	Bias                string          `json:"bias"`
	FanInFanOut         bool            `json:"fan_in_fan_out"`
	Targets

	// Extra keeps fields orthotune does not interpret, to write them back.
	Extra map[string]json.RawMessage `json:"-"`
}

// TaskCausalLM is the task_type of every adapter orthotune makes.
const TaskCausalLM = "CAUSAL_LM"

// NewBaseConfig returns the shared fields of a fresh config as PEFT
// defaults them: the method's peft_type, task CAUSAL_LM, bias "none",
// peft_version MinWriteVersion.
func NewBaseConfig(peftType string) BaseConfig {
	task := TaskCausalLM
	return BaseConfig{PeftType: peftType, TaskType: &task, Bias: "none", PeftVersion: MinWriteVersion}
}

// ValidateShared checks the fields every method validates alike:
// layers_pattern needs layers_to_transform, bias is none, all or
// "<method>_only" (the peft_type in lower case), and target_modules is set.
func (b *BaseConfig) ValidateShared() error {
	only := strings.ToLower(b.PeftType) + "_only"
	switch {
	case b.LayersPattern.IsSet && !b.LayersToTransform.IsSet:
		return fmt.Errorf("layers_pattern is set but layers_to_transform is not")
	case b.Bias != "none" && b.Bias != "all" && b.Bias != only:
		return fmt.Errorf("bias %q is not one of none, all, %s", b.Bias, only)
	case !b.TargetModules.IsSet:
		return fmt.Errorf("target_modules is null; name the layers to adapt (e.g. [\"q_proj\", \"v_proj\"] or \"all-linear\")")
	}
	return nil
}

// Base returns the shared fields; method configs embed BaseConfig and so
// satisfy this part of Config.
func (b *BaseConfig) Base() *BaseConfig { return b }

// Config is one method's adapter configuration.
type Config interface {
	// Base returns the fields every PEFT config has.
	Base() *BaseConfig
	// Validate checks the method's fields; messages name the field.
	Validate() error
	// NewLayer wraps slot's layer with a freshly initialised adapter layer
	// (the config's init mode, drawing from rng).
	NewLayer(slot *model.LinearSlot, rng *tensor.RNG) (Layer, error)
	// LoadLayer wraps slot's layer with an adapter layer holding the given
	// tensors, keyed by PEFT suffix ("oft_R.weight"). Shapes are checked
	// against the layer; messages name the layer and the tensor.
	LoadLayer(slot *model.LinearSlot, tensors map[string]*tensor.Tensor) (Layer, error)
	// Suffixes lists the tensor key suffixes one adapted layer stores.
	Suffixes() []string
	// InferShape returns the input and output features of the base layer
	// that one module's stored tensors (keyed by suffix) imply, so that a
	// layer can be rebuilt from an adapter file alone (inspection without
	// the model); messages name the module and the tensor.
	InferShape(module string, tensors map[string]*tensor.Tensor) (in, out int, err error)
}

// ReadConfig reads adapter_config.json and dispatches on peft_type.
// Warnings are logged with slog and returned.
func ReadConfig(path string) (Config, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("peft: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig is ReadConfig over bytes; path is used in messages.
func ParseConfig(path string, data []byte) (Config, []string, error) {
	var head struct {
		PeftType *string `json:"peft_type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, nil, fmt.Errorf("%s: not a JSON object: %w", path, err)
	}
	if head.PeftType == nil {
		return nil, nil, fmt.Errorf("%s: field \"peft_type\" is missing", path)
	}
	methodsMu.RLock()
	m, ok := byPeftType[*head.PeftType]
	methodsMu.RUnlock()
	if !ok {
		return nil, nil, fmt.Errorf("%s: peft_type %q is not supported (supported: %s)", path, *head.PeftType, strings.Join(PeftTypes(), ", "))
	}
	cfg, warnings, err := m.Parse(path, data)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range warnings {
		slog.Warn(w, "config", path)
	}
	return cfg, warnings, nil
}

// DecodeConfig unmarshals data into cfg (a pointer to a method config that
// embeds BaseConfig) and records fields cfg does not declare in Extra,
// returning a warning for each of them not listed in known (fields PEFT
// has that orthotune keeps without interpreting).
func DecodeConfig(path string, data []byte, cfg Config, known ...string) ([]string, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w", path, err)
	}
	if err := json.Unmarshal(data, cfg); err != nil {
		// Decode field by field to name the one at fault.
		t := reflect.TypeOf(cfg).Elem()
		probe := reflect.New(t).Interface()
		for _, k := range sortedKeys(raw) {
			one, _ := json.Marshal(map[string]json.RawMessage{k: raw[k]})
			if ferr := json.Unmarshal(one, probe); ferr != nil {
				return nil, fmt.Errorf("%s: field %q: %s", path, k, fieldError(t, k, ferr))
			}
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			k := te.Field[strings.LastIndex(te.Field, ".")+1:]
			return nil, fmt.Errorf("%s: field %q: %s", path, k, fieldError(t, k, err))
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	declared, err := fieldsOf(cfg)
	if err != nil {
		return nil, err
	}
	var warnings []string
	b := cfg.Base()
	b.Extra = map[string]json.RawMessage{}
	for _, k := range sortedKeys(raw) {
		if declared[k] {
			continue
		}
		b.Extra[k] = raw[k]
		if !contains(known, k) {
			warnings = append(warnings, fmt.Sprintf("%s: unknown field %q kept but not used", path, k))
		}
	}
	return warnings, nil
}

// fieldError says what is wrong with the value of field key of a config of
// struct type t: for a value of the wrong JSON type, what the field wants
// and what it got ("want a number, got string"), without Go's type names;
// other errors (a field's own decoder's) as they are.
func fieldError(t reflect.Type, key string, err error) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err.Error()
	}
	got := jsonValueName(te.Value)
	ft := jsonFieldType(t, key)
	if ft == nil {
		return fmt.Sprintf("want %s, got %s", typeName(te.Type), got)
	}
	if (ft.Kind() == reflect.Slice || ft.Kind() == reflect.Array) && te.Type != ft {
		return fmt.Sprintf("want %s, got %s in the list", typeName(ft), got)
	}
	return fmt.Sprintf("want %s, got %s", typeName(ft), got)
}

// jsonValueName names the JSON value encoding/json describes as v
// ("string", "number 1.5", "array", ...).
func jsonValueName(v string) string {
	if n, ok := strings.CutPrefix(v, "number "); ok {
		return n
	}
	switch v {
	case "array":
		return "list"
	case "bool":
		return "boolean"
	}
	return v
}

// typeName says which JSON values a field of Go type t accepts.
func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		switch elem := typeName(t.Elem()); {
		case elem == "true or false":
			return "a list of booleans"
		case strings.HasPrefix(elem, "a list"):
			return "a list of lists"
		default:
			return "a list of " + elem[strings.Index(elem, " ")+1:] + "s"
		}
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a different value"
}

// jsonFieldType returns the type of the field of struct type t (or of a
// struct it embeds) that the JSON key names, or nil.
func jsonFieldType(t reflect.Type, key string) reflect.Type {
	if t.Kind() != reflect.Struct {
		return nil
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if found := jsonFieldType(ft, key); found != nil {
				return found
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.EqualFold(name, key) && f.IsExported() { // as encoding/json matches keys
			return f.Type
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fieldsOf returns the JSON keys cfg's declared fields marshal to.
func fieldsOf(cfg Config) (map[string]bool, error) {
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	out := map[string]bool{"peft_version": true}
	for k := range m {
		out[k] = true
	}
	return out, nil
}

// VersionPinner is implemented by configs whose meaning depends on being
// read as written before PEFT 0.18.0 (an OFT adapter trained with the
// 0.16–0.17 Cayley–Neumann series): EncodeConfig then does not raise their
// peft_version.
type VersionPinner interface {
	PinVersion() bool
}

// EncodeConfig renders cfg as PEFT writes adapter_config.json: every field,
// keys sorted, two-space indent; Extra fields are kept; peft_version is
// raised to at least MinWriteVersion.
func EncodeConfig(cfg Config) ([]byte, error) {
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	for k, v := range cfg.Base().Extra {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	if p, ok := cfg.(VersionPinner); ok && p.PinVersion() {
		// The config's meaning depends on being read as older than 0.18.0:
		// keep such a version, or write none (absent means pre-0.18).
		if v := cfg.Base().PeftVersion; v == "" || !VersionLess(v, MinWriteVersion) {
			delete(m, "peft_version")
		}
	} else if v := cfg.Base().PeftVersion; v == "" || VersionLess(v, MinWriteVersion) {
		m["peft_version"] = json.RawMessage(`"` + MinWriteVersion + `"`)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// VersionLess compares PEFT version strings numerically by their leading
// major.minor.patch ("0.20.1.dev0@sha" counts as 0.20.1). An empty or
// unparsable version counts as 0.0.0, as PEFT treats a missing field.
func VersionLess(a, b string) bool {
	pa, pb := parseVersion(a), parseVersion(b)
	for i := range pa {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return false
}

func parseVersion(v string) [3]int {
	v, _, _ = strings.Cut(v, "@")
	var out [3]int
	for i, part := range strings.SplitN(v, ".", 4) {
		if i >= 3 {
			break
		}
		n := 0
		for _, c := range part {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
		}
		out[i] = n
	}
	return out
}
