package gemma3_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/model/gemma3"
	"github.com/orthotune/orthotune/nn"
)

// TestParseConfig checks what each field that changes the computation
// becomes, transformers' defaults for absent fields included.
func TestParseConfig(t *testing.T) {
	const S, F = gemma3.SlidingAttention, gemma3.FullAttention
	for _, tc := range []struct {
		name  string
		over  map[string]any
		check func(t *testing.T, c *gemma3.Config)
	}{
		{"tiny config", nil, func(t *testing.T, c *gemma3.Config) {
			if c.HeadDim != 6 || c.Heads != 4 || c.KVHeads != 2 || c.SlidingWindow != 3 || c.PadToken != 0 || !c.TieEmbeddings {
				t.Errorf("%+v", c)
			}
			if !slices.Equal(c.LayerTypes, []string{S, F, S}) {
				t.Errorf("layer types %v, want pattern 2: S F S", c.LayerTypes)
			}
			if c.AttnScale != 1/math.Sqrt(10) {
				t.Errorf("attention scale %v, want query_pre_attn_scalar 10 ^ -1/2", c.AttnScale)
			}
			if c.EmbedScale != float32(math.Sqrt(12)) {
				t.Errorf("embed scale %v, want float32(√12)", c.EmbedScale)
			}
			if c.GlobalInvFreq[1] != 1/math.Pow(1e6, 2.0/6) || c.LocalInvFreq[1] != 1/math.Pow(1e4, 2.0/6) {
				t.Errorf("frequencies: global %v, local %v", c.GlobalInvFreq, c.LocalInvFreq)
			}
			if c.GELU != nn.GELUTanh || c.FinalSoftcap != 0 {
				t.Errorf("GELU %v, soft-cap %v", c.GELU, c.FinalSoftcap)
			}
		}},
		{"defaults of absent fields", map[string]any{
			"head_dim": nil, "sliding_window": nil, "sliding_window_pattern": nil, "query_pre_attn_scalar": nil,
			"rope_theta": nil, "rope_local_base_freq": nil, "pad_token_id": nil, "tie_word_embeddings": nil,
			"hidden_activation": nil, "rms_norm_eps": nil, "num_hidden_layers": 7,
		}, func(t *testing.T, c *gemma3.Config) {
			if c.HeadDim != 256 || c.SlidingWindow != 4096 || c.AttnScale != 1.0/16 || c.PadToken != 0 || !c.TieEmbeddings || c.RMSNormEps != 1e-6 {
				t.Errorf("%+v", c)
			}
			if !slices.Equal(c.LayerTypes, []string{S, S, S, S, S, F, S}) {
				t.Errorf("layer types %v, want pattern 6", c.LayerTypes)
			}
			if c.GlobalInvFreq[1] != 1/math.Pow(1e6, 2.0/256) || c.LocalInvFreq[1] != 1/math.Pow(1e4, 2.0/256) {
				t.Error("default RoPE bases are not 1e6 (full) and 1e4 (sliding)")
			}
		}},
		{"layer_types wins over the pattern", map[string]any{"layer_types": []string{F, F, S}, "sliding_window_pattern": 3},
			func(t *testing.T, c *gemma3.Config) {
				if !slices.Equal(c.LayerTypes, []string{F, F, S}) {
					t.Errorf("layer types %v", c.LayerTypes)
				}
			}},
		{"linear rope scaling on full layers only", map[string]any{"rope_scaling": map[string]any{"rope_type": "linear", "factor": 8.0}},
			func(t *testing.T, c *gemma3.Config) {
				if c.GlobalInvFreq[1] != 1/math.Pow(1e6, 2.0/6)/8 || c.LocalInvFreq[1] != 1/math.Pow(1e4, 2.0/6) {
					t.Errorf("frequencies: global %v, local %v", c.GlobalInvFreq, c.LocalInvFreq)
				}
			}},
		{"legacy rope_scaling type", map[string]any{"rope_scaling": map[string]any{"type": "linear", "factor": 2.0}},
			func(t *testing.T, c *gemma3.Config) {
				if c.GlobalInvFreq[0] != 0.5 {
					t.Errorf("global frequency 0 = %v, want 1/2", c.GlobalInvFreq[0])
				}
			}},
		{"v5 rope_parameters", map[string]any{"rope_theta": nil, "rope_local_base_freq": nil, "rope_parameters": map[string]any{
			"full_attention":    map[string]any{"rope_type": "linear", "rope_theta": 5e5, "factor": 4.0},
			"sliding_attention": map[string]any{"rope_type": "default", "rope_theta": 2e4},
		}}, func(t *testing.T, c *gemma3.Config) {
			if c.GlobalInvFreq[1] != 1/math.Pow(5e5, 2.0/6)/4 || c.LocalInvFreq[1] != 1/math.Pow(2e4, 2.0/6) {
				t.Errorf("frequencies: global %v, local %v", c.GlobalInvFreq, c.LocalInvFreq)
			}
		}},
		{"soft-caps, erf GELU, bias, untied, pad 5", map[string]any{"final_logit_softcapping": 30.0, "attn_logit_softcapping": 50.0,
			"hidden_activation": "gelu", "attention_bias": true, "tie_word_embeddings": false, "pad_token_id": 5},
			func(t *testing.T, c *gemma3.Config) {
				if c.FinalSoftcap != 30 || c.GELU != nn.GELUExact || !c.AttentionBias || c.TieEmbeddings || c.PadToken != 5 {
					t.Errorf("%+v", c)
				}
			}},
		{"pad_token_id null", map[string]any{"pad_token_id": "null"}, func(t *testing.T, c *gemma3.Config) {
			if c.PadToken != -1 {
				t.Errorf("pad token %d, want -1", c.PadToken)
			}
		}},
		{"every layer full: no window needed", map[string]any{"sliding_window_pattern": 1, "sliding_window": "null"},
			func(t *testing.T, c *gemma3.Config) {
				if slices.Contains(c.LayerTypes, S) {
					t.Errorf("layer types %v", c.LayerTypes)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := gemma3.ParseConfig(parseRaw(t, tc.over))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// parseRaw is parse with the string "null" written as JSON null.
func parseRaw(t *testing.T, over map[string]any) *model.Config {
	t.Helper()
	cfg := tinyConfig()
	rest := map[string]any{}
	for k, v := range over {
		if v == "null" {
			cfg[k] = nil
		} else {
			rest[k] = v
		}
	}
	return parse(t, cfg, rest)
}

// TestParseConfigRefuses checks that each value orthotune cannot honour is
// refused with a message naming the file and the field.
func TestParseConfigRefuses(t *testing.T) {
	for _, tc := range []struct {
		over  map[string]any
		field string
	}{
		{map[string]any{"model_type": "gemma3"}, "model_type"},
		{map[string]any{"head_dim": 5}, "head_dim"},
		{map[string]any{"num_key_value_heads": 3}, "num_key_value_heads"},
		{map[string]any{"hidden_activation": "silu"}, "hidden_activation"},
		{map[string]any{"layer_types": []string{"sliding_attention"}}, "layer_types"},
		{map[string]any{"layer_types": []string{"sliding_attention", "chunked_attention", "full_attention"}}, "layer_types"},
		{map[string]any{"layer_types": "sliding_attention"}, "layer_types"},
		{map[string]any{"sliding_window_pattern": 0}, "sliding_window_pattern"},
		{map[string]any{"sliding_window": "null"}, "sliding_window"},
		{map[string]any{"sliding_window": 0}, "sliding_window"},
		{map[string]any{"rope_scaling": map[string]any{"rope_type": "yarn", "factor": 8.0}}, "rope_type"},
		{map[string]any{"rope_scaling": map[string]any{"rope_type": "linear"}}, "factor"},
		{map[string]any{"rope_theta": 0}, "rope_theta"},
		{map[string]any{"rope_local_base_freq": -1}, "rope_local_base_freq"},
		{map[string]any{"rope_parameters": map[string]any{"rope_type": "default", "rope_theta": 1e4}}, "rope_parameters"},
		{map[string]any{"query_pre_attn_scalar": 0}, "query_pre_attn_scalar"},
		{map[string]any{"final_logit_softcapping": -30.0}, "final_logit_softcapping"},
		{map[string]any{"attn_logit_softcapping": "on"}, "attn_logit_softcapping"},
		{map[string]any{"attention_dropout": 0.1}, "attention_dropout"},
		{map[string]any{"use_bidirectional_attention": true}, "use_bidirectional_attention"},
		{map[string]any{"pad_token_id": 24}, "pad_token_id"},
		{map[string]any{"pad_token_id": -1}, "pad_token_id"},
		{map[string]any{"vocab_size": 1 << 30, "hidden_size": 1 << 12}, "vocab_size"},
		{map[string]any{"num_hidden_layers": 1.5}, "num_hidden_layers"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			_, err := gemma3.ParseConfig(parseRaw(t, tc.over))
			if err == nil {
				t.Fatalf("%v accepted", tc.over)
			}
			if !strings.Contains(err.Error(), "test/config.json") || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("%v: error %q does not name the file and %q", tc.over, err, tc.field)
			}
		})
	}
}

// TestLoadRefusesMismatchedCheckpoint: a config whose sizes disagree with
// the checkpoint is refused before anything is built, naming the tensor and
// the fields.
func TestLoadRefusesMismatchedCheckpoint(t *testing.T) {
	m := newModel(t, nil, 1)
	dir := t.TempDir()
	cfg := parse(t, tinyConfig(), nil)
	if err := model.WriteInitialized(dir, cfg, m, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := model.Load(dir); err != nil {
		t.Fatalf("the written model does not load: %v", err)
	}
	bad := parse(t, tinyConfig(), map[string]any{"head_dim": 8})
	other := t.TempDir()
	if err := model.WriteInitialized(other, bad, m, ""); err != nil {
		t.Fatal(err)
	}
	_, err := model.Load(other)
	if err == nil || !strings.Contains(err.Error(), "q_proj") || !strings.Contains(err.Error(), "head_dim") {
		t.Errorf("head_dim 8 over a head_dim 6 checkpoint: %v", err)
	}
}

// TestParseReleasedConfigs parses configs shaped as the Hub's: gemma-3-270m
// (written by transformers 4.55 with layer_types and the private
// _sliding_window_pattern) and gemma-3-1b (sliding_window_pattern only,
// layers 5, 11, 17, 23 global).
func TestParseReleasedConfigs(t *testing.T) {
	types270m := make([]string, 18)
	for i := range types270m {
		types270m[i] = `"sliding_attention"`
		if (i+1)%6 == 0 {
			types270m[i] = `"full_attention"`
		}
	}
	for _, tc := range []struct {
		name, json string
		full       []int
		hidden     int
	}{
		{"gemma-3-270m", `{"architectures": ["Gemma3ForCausalLM"], "_sliding_window_pattern": 6, "attention_bias": false,
			"attention_dropout": 0.0, "attn_logit_softcapping": null, "bos_token_id": 2, "eos_token_id": 1,
			"final_logit_softcapping": null, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 640,
			"initializer_range": 0.02, "intermediate_size": 2048, "layer_types": [` + strings.Join(types270m, ", ") + `],
			"max_position_embeddings": 32768, "model_type": "gemma3_text", "num_attention_heads": 4, "num_hidden_layers": 18,
			"num_key_value_heads": 1, "pad_token_id": 0, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06,
			"rope_local_base_freq": 10000.0, "rope_scaling": null, "rope_theta": 1000000.0, "sliding_window": 512,
			"torch_dtype": "bfloat16", "transformers_version": "4.55.0.dev0", "use_bidirectional_attention": false,
			"use_cache": true, "vocab_size": 262144}`, []int{5, 11, 17}, 640},
		{"gemma-3-1b", `{"architectures": ["Gemma3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
			"attn_logit_softcapping": null, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": [1, 106],
			"final_logit_softcapping": null, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 1152,
			"initializer_range": 0.02, "intermediate_size": 6912, "max_position_embeddings": 32768, "model_type": "gemma3_text",
			"num_attention_heads": 4, "num_hidden_layers": 26, "num_key_value_heads": 1, "pad_token_id": 0,
			"query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000, "rope_scaling": null,
			"rope_theta": 1000000, "sliding_window": 512, "sliding_window_pattern": 6, "torch_dtype": "bfloat16",
			"transformers_version": "4.50.0.dev0", "use_cache": true, "vocab_size": 262144}`, []int{5, 11, 17, 23}, 1152},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc, err := model.ParseConfig(tc.name+"/config.json", []byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			c, err := gemma3.ParseConfig(mc)
			if err != nil {
				t.Fatal(err)
			}
			var full []int
			for i := range c.LayerTypes {
				if !c.Sliding(i) {
					full = append(full, i)
				}
			}
			if !slices.Equal(full, tc.full) || c.SlidingWindow != 512 || c.HeadDim != 256 || c.AttnScale != 1.0/16 ||
				c.Hidden != tc.hidden || c.KVHeads != 1 || !c.TieEmbeddings || c.PadToken != 0 {
				t.Errorf("full layers %v, %+v", full, c)
			}
			if c.EmbedScale != float32(math.Sqrt(float64(tc.hidden))) {
				t.Errorf("embed scale %v", c.EmbedScale)
			}
		})
	}
}
