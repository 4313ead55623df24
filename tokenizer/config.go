package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
)

// tokenizerConfig is what this package reads from tokenizer_config.json and
// special_tokens_map.json.
type tokenizerConfig struct {
	special           map[string]string // role -> content
	noRole            map[string]bool   // roles set to null explicitly
	additionalSpecial []string
	addBOS, addEOS    *bool
	cleanUp           bool
	modelMaxLength    int
	chatTemplate      string
	tokenizerClass    string
}

var roles = []string{"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}

func knownRole(role string) bool {
	for _, r := range roles {
		if r == role {
			return true
		}
	}
	return false
}

// hasRole reports whether the config names the role, even as null.
func (c *tokenizerConfig) hasRole(role string) bool {
	_, ok := c.special[role]
	return ok || c.noRole[role]
}

func (t *Tokenizer) loadConfigDir(dir string) error {
	cfgPath := filepath.Join(dir, "tokenizer_config.json")
	data, err := os.ReadFile(cfgPath)
	switch {
	case err == nil:
		if err := t.cfg.parse(data, cfgPath); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return fmt.Errorf("tokenizer: %w", err)
	}
	mapPath := filepath.Join(dir, "special_tokens_map.json")
	data, err = os.ReadFile(mapPath)
	switch {
	case err == nil:
		// Like transformers, special_tokens_map.json overrides
		// tokenizer_config.json.
		if err := t.cfg.parseSpecialMap(data, mapPath); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return fmt.Errorf("tokenizer: %w", err)
	}
	if t.cfg.chatTemplate == "" {
		tplPath := filepath.Join(dir, "chat_template.jinja")
		data, err = os.ReadFile(tplPath)
		switch {
		case err == nil:
			t.cfg.chatTemplate = string(data)
		case errors.Is(err, fs.ErrNotExist):
		default:
			return fmt.Errorf("tokenizer: %w", err)
		}
	}
	for _, s := range t.cfg.additionalSpecial {
		t.special[s] = true
	}
	return nil
}

// tokenValue reads a special token given as a string, as
// {"content": ...} (an AddedToken), or null.
func tokenValue(raw json.RawMessage, path string) (string, bool, error) {
	if isNull(raw) {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true, nil
	}
	var o struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &o); err != nil || o.Content == nil {
		return "", false, fmt.Errorf("%s: want a string or an object with \"content\"", path)
	}
	return *o.Content, true, nil
}

func (c *tokenizerConfig) setRoles(fields map[string]json.RawMessage, file string) error {
	for _, role := range roles {
		raw, ok := fields[role]
		if !ok {
			continue
		}
		v, set, err := tokenValue(raw, role)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if c.special == nil {
			c.special = map[string]string{}
		}
		if c.noRole == nil {
			c.noRole = map[string]bool{}
		}
		if set && v != "" {
			c.special[role] = v
			delete(c.noRole, role)
		} else {
			delete(c.special, role)
			c.noRole[role] = true
		}
	}
	if raw, ok := fields["additional_special_tokens"]; ok && !isNull(raw) {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return fmt.Errorf("%s: additional_special_tokens: want a list", file)
		}
		c.additionalSpecial = c.additionalSpecial[:0]
		for i, item := range items {
			v, set, err := tokenValue(item, fmt.Sprintf("additional_special_tokens[%d]", i))
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if set {
				c.additionalSpecial = append(c.additionalSpecial, v)
			}
		}
	}
	return nil
}

func (c *tokenizerConfig) parse(data []byte, file string) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return fmt.Errorf("%s: %w", file, jsonError(data, err, ""))
	}
	if fields == nil {
		return fmt.Errorf("%s: want a JSON object", file)
	}
	if err := c.setRoles(fields, file); err != nil {
		return err
	}
	o := object{path: "", fields: fields}
	field := func(k string) string { return k }
	for _, k := range []string{"add_bos_token", "add_eos_token"} {
		if !o.has(k) {
			continue
		}
		b, err := o.boolean(k, false)
		if err != nil {
			return fmt.Errorf("%s: %s: want true or false", file, field(k))
		}
		if k == "add_bos_token" {
			c.addBOS = &b
		} else {
			c.addEOS = &b
		}
	}
	clean, err := o.boolean("clean_up_tokenization_spaces", false)
	if err != nil {
		return fmt.Errorf("%s: clean_up_tokenization_spaces: want true or false", file)
	}
	c.cleanUp = clean
	if o.has("model_max_length") {
		var f float64
		if err := json.Unmarshal(fields["model_max_length"], &f); err != nil || f < 0 || math.IsNaN(f) {
			return fmt.Errorf("%s: model_max_length: want a non-negative number", file)
		}
		if f >= math.MaxInt64 {
			c.modelMaxLength = math.MaxInt
		} else {
			c.modelMaxLength = int(f)
		}
	}
	if c.tokenizerClass, err = o.str("tokenizer_class", ""); err != nil {
		return fmt.Errorf("%s: tokenizer_class: want a string", file)
	}
	if o.has("chat_template") {
		raw := fields["chat_template"]
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			c.chatTemplate = s
		} else {
			var list []struct {
				Name     *string `json:"name"`
				Template *string `json:"template"`
			}
			if err := json.Unmarshal(raw, &list); err != nil {
				return fmt.Errorf("%s: chat_template: want a string or a list of {\"name\", \"template\"}", file)
			}
			for i, e := range list {
				if e.Name == nil || e.Template == nil {
					return fmt.Errorf("%s: chat_template[%d]: want \"name\" and \"template\" strings", file, i)
				}
				if *e.Name == "default" {
					c.chatTemplate = *e.Template
				}
			}
		}
	}
	return nil
}

func (c *tokenizerConfig) parseSpecialMap(data []byte, file string) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return fmt.Errorf("%s: %w", file, jsonError(data, err, ""))
	}
	if fields == nil {
		return fmt.Errorf("%s: want a JSON object", file)
	}
	return c.setRoles(fields, file)
}
