package model_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/model/gemma3"
	"github.com/orthotune/orthotune/model/gpt2"
	"github.com/orthotune/orthotune/model/llama"
	"github.com/orthotune/orthotune/model/qwen3"
)

// configParsers maps each registered model_type to its builder's config
// parser; FuzzConfig checks that it covers model.ModelTypes().
var configParsers = map[string]func(*model.Config) error{
	"gpt2":        func(c *model.Config) error { _, err := gpt2.ParseConfig(c); return err },
	"llama":       func(c *model.Config) error { _, err := llama.ParseConfig(c); return err },
	"mistral":     func(c *model.Config) error { _, err := llama.ParseConfig(c); return err },
	"qwen2":       func(c *model.Config) error { _, err := llama.ParseConfig(c); return err },
	"qwen3":       func(c *model.Config) error { _, err := qwen3.ParseConfig(c); return err },
	"gemma3_text": func(c *model.Config) error { _, err := gemma3.ParseConfig(c); return err },
}

// fuzzSizeLimit bounds the config sizes FuzzConfig hands to the
// builders' parsers: llama.ParseConfig allocates per layer
// (num_hidden_layers) and per rotary frequency (head_dim, or
// hidden_size/num_attention_heads), and model.Config.Int accepts up to
// 2^40, which would make the fuzzer run out of memory rather than find
// bugs. Only parsers run here, never builders.
const fuzzSizeLimit = 1 << 16

// tooBig reports whether a size field that a config parser allocates by
// is out of fuzzSizeLimit. Fields that do not read as integers are left to
// the parser to refuse.
func tooBig(c *model.Config) bool {
	for _, f := range []string{"num_hidden_layers", "head_dim"} {
		if v, err := c.IntOr(f, 0); err == nil && v > fuzzSizeLimit {
			return true
		}
	}
	hidden, err1 := c.IntOr("hidden_size", 0)
	heads, err2 := c.IntOr("num_attention_heads", 1)
	return err1 == nil && err2 == nil && !c.Has("head_dim") && hidden/heads > fuzzSizeLimit
}

// FuzzConfig: no config.json makes model.ParseConfig or the config
// parser of the builder its model_type selects panic, and every error they
// return names the file path they were given.
func FuzzConfig(f *testing.F) {
	const path = "fuzz/dir/config.json"
	for _, arch := range []string{"llama", "gpt2"} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "peft-ref", "model", arch, "config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	gemma, err := os.ReadFile(filepath.Join("..", "testdata", "peft-ref-models", "model", "gemma3", "config.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(gemma)
	for _, s := range []string{
		`{"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 256, "max_position_embeddings": 128, "use_sliding_window": true, "sliding_window": 16, "max_window_layers": 2}`,
		`{"model_type": "qwen3", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 256, "max_position_embeddings": 128,
			"use_sliding_window": true, "sliding_window": 8, "layer_types": ["full_attention", "sliding_attention", "full_attention"], "pad_token_id": 0, "attention_bias": true}`,
		`{"model_type": "qwen3", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 256, "max_position_embeddings": 128, "use_sliding_window": true, "max_window_layers": 0}`,
		`{"model_type": "mistral", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 256, "max_position_embeddings": 128, "sliding_window": 32}`,
		`{"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 256, "max_position_embeddings": 128,
			"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}}`,
		`{"model_type": "llama", "hidden_size": 60, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "head_dim": 0, "vocab_size": 256, "max_position_embeddings": 128, "rope_scaling": {"type": "linear", "factor": 0}}`,
		`{"model_type": "gpt2", "n_embd": 64, "n_head": 3, "n_layer": 1.5, "n_positions": 64, "vocab_size": 256, "activation_function": "relu"}`,
		`{"model_type": "bert"}`,
		`{"model_type": 3}`,
		`{}`,
		`null`,
		`[`,
	} {
		f.Add([]byte(s))
	}
	for _, mt := range model.ModelTypes() {
		if configParsers[mt] == nil {
			f.Fatalf("model_type %q is registered but FuzzConfig has no config parser for it", mt)
		}
	}
	namesPath := func(t *testing.T, what string, err error) {
		t.Helper()
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("%s: error %q does not name %s", what, err, path)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := model.ParseConfig(path, data)
		if err != nil {
			namesPath(t, "model.ParseConfig", err)
			return
		}
		if c.Path != path {
			t.Fatalf("Config.Path = %q, want %q", c.Path, path)
		}
		mt, err := c.String("model_type")
		if err != nil {
			namesPath(t, "model_type", err)
			return
		}
		parse := configParsers[mt]
		if parse == nil || tooBig(c) {
			return
		}
		if err := parse(c); err != nil {
			namesPath(t, mt+" config parser", err)
		}
	})
}
