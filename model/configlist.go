package model

// Null reports whether field is present in the config with the value null,
// which some architectures read differently from an absent field (Gemma 3's
// pad_token_id: absent means the default 0, null means no padding row).
func (c *Config) Null(field string) bool {
	v, ok := c.raw[field]
	return ok && string(v) == "null"
}

// StringsOr returns an optional field holding a list of strings, def when
// absent (or null).
func (c *Config) StringsOr(field string, def []string) ([]string, error) {
	if !c.Has(field) {
		return def, nil
	}
	var out []string
	if err := c.decode(field, &out, "a list of strings"); err != nil {
		return nil, err
	}
	return out, nil
}
