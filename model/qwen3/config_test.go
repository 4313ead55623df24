package qwen3

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/model/llama"
)

// parse parses the reference Qwen3 config.json (testdata/peft-ref-models)
// with fields changed (nil deletes, json.RawMessage("null") writes null).
func parse(t *testing.T, fields map[string]any) (*llama.Config, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "peft-ref-models", "model", "qwen3", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		if v == nil {
			delete(raw, k)
		} else {
			raw[k] = v
		}
	}
	if data, err = json.Marshal(raw); err != nil {
		t.Fatal(err)
	}
	c, err := model.ParseConfig("config.json", data)
	if err != nil {
		t.Fatal(err)
	}
	return ParseConfig(c)
}

var null = json.RawMessage("null")

// TestParseConfig: each field Qwen3 reads, and its default, as
// Qwen3Config and the modelling code take them.
func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields map[string]any
		check  func(c *llama.Config) bool
		want   string // what check verifies, for the failure message
	}{
		{"reference", nil, func(c *llama.Config) bool {
			return c.ModelType == "qwen3" && c.QKNorm && c.HeadDim == 32 && c.Heads == 4 && c.KVHeads == 2 && c.RopeTheta == 1e6 &&
				!c.QKVBias && !c.OutBias && !c.MLPBias && !c.TieEmbeddings && !c.HasPaddingIdx && slices.Equal(c.SlidingWindow, []int{0, 0})
		}, "q/k norms, head_dim 32, 4/2 heads, rope_theta 1e6, no biases, untied, no padding, no window"},
		{"head_dim absent is 128, not hidden/heads", map[string]any{"head_dim": nil}, func(c *llama.Config) bool {
			return c.HeadDim == 128 && len(c.InvFreq) == 64
		}, "head_dim 128 and 64 rotary frequencies"},
		{"num_key_value_heads null is heads", map[string]any{"num_key_value_heads": null}, func(c *llama.Config) bool { return c.KVHeads == 4 }, "4 kv heads"},
		{"attention_bias: q, k, v and o_proj", map[string]any{"attention_bias": true}, func(c *llama.Config) bool { return c.QKVBias && c.OutBias }, "q/k/v and o biases"},
		{"mlp_bias is not Qwen3's", map[string]any{"mlp_bias": true}, func(c *llama.Config) bool { return !c.MLPBias }, "no MLP bias"},
		{"tied head", map[string]any{"tie_word_embeddings": true}, func(c *llama.Config) bool { return c.TieEmbeddings }, "tied"},
		{"sliding_window without use_sliding_window", map[string]any{"sliding_window": 8, "max_window_layers": 0},
			func(c *llama.Config) bool { return slices.Equal(c.SlidingWindow, []int{0, 0}) }, "no window"},
		{"use_sliding_window from max_window_layers", map[string]any{"use_sliding_window": true, "sliding_window": 8, "max_window_layers": 1},
			func(c *llama.Config) bool { return slices.Equal(c.SlidingWindow, []int{0, 8}) }, "windows [0 8]"},
		{"max_window_layers 0 slides every layer", map[string]any{"use_sliding_window": true, "sliding_window": 8, "max_window_layers": 0},
			func(c *llama.Config) bool { return slices.Equal(c.SlidingWindow, []int{8, 8}) }, "windows [8 8]"},
		{"sliding_window absent is 4096, max_window_layers absent is 28", map[string]any{"use_sliding_window": true, "sliding_window": nil,
			"max_window_layers": nil, "num_hidden_layers": 30}, func(c *llama.Config) bool {
			return c.SlidingWindow[27] == 0 && c.SlidingWindow[28] == 4096 && c.SlidingWindow[29] == 4096
		}, "layers 28 and 29 slide by 4096"},
		{"sliding_window null is none", map[string]any{"use_sliding_window": true, "sliding_window": null, "max_window_layers": 0},
			func(c *llama.Config) bool { return slices.Equal(c.SlidingWindow, []int{0, 0}) }, "no window"},
		{"layer_types wins over max_window_layers", map[string]any{"use_sliding_window": true, "sliding_window": 8, "max_window_layers": 2,
			"layer_types": []string{"sliding_attention", "full_attention"}}, func(c *llama.Config) bool { return slices.Equal(c.SlidingWindow, []int{8, 0}) }, "windows [8 0]"},
		{"pad_token_id 0", map[string]any{"pad_token_id": 0}, func(c *llama.Config) bool { return c.HasPaddingIdx && c.PaddingIdx == 0 }, "padding row 0"},
		{"linear rope_scaling", map[string]any{"rope_scaling": map[string]any{"rope_type": "linear", "factor": 4.0}},
			func(c *llama.Config) bool { return c.InvFreq[0] == 0.25 }, "inv_freq[0] = 1/4"},
		{"v5 rope_parameters", map[string]any{"rope_theta": nil, "rope_parameters": map[string]any{"rope_type": "default", "rope_theta": 5e5}},
			func(c *llama.Config) bool { return c.RopeTheta == 5e5 }, "rope_theta 5e5 from rope_parameters"},
		{"v5 rope_parameters, linear", map[string]any{"rope_theta": nil, "rope_parameters": map[string]any{"rope_type": "linear", "rope_theta": 1e4, "factor": 2.0}},
			func(c *llama.Config) bool { return c.RopeTheta == 1e4 && c.InvFreq[0] == 0.5 }, "rope_theta 1e4, inv_freq[0] = 1/2"},
		{"attention_dropout 0", map[string]any{"attention_dropout": 0}, func(c *llama.Config) bool { return true }, "accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, tc.fields)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("got %+v, want %s", *c, tc.want)
			}
		})
	}
}

// TestParseConfigRefuses: what Qwen3 cannot honour is refused with an
// error naming config.json and the field.
func TestParseConfigRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields map[string]any
		want   string
	}{
		{"yarn rope_scaling", map[string]any{"rope_scaling": map[string]any{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}}, `"rope_type": "yarn"`},
		{"dynamic rope_scaling", map[string]any{"rope_scaling": map[string]any{"type": "dynamic", "factor": 2.0}}, `"rope_type": "dynamic"`},
		{"v5 rope_parameters with rope_scaling", map[string]any{"rope_parameters": map[string]any{"rope_type": "default", "rope_theta": 1e6},
			"rope_scaling": map[string]any{"rope_type": "linear", "factor": 2.0}}, `"rope_parameters" and "rope_scaling" are both given`},
		{"v5 rope_parameters disagreeing on rope_theta", map[string]any{"rope_parameters": map[string]any{"rope_type": "default", "rope_theta": 1e4}}, `"rope_theta" = 1e+06 disagrees`},
		{"v5 yarn", map[string]any{"rope_theta": nil, "rope_parameters": map[string]any{"rope_type": "yarn", "rope_theta": 1e6, "factor": 4.0}}, `field rope_parameters: field "rope_type": "yarn"`},
		{"gelu", map[string]any{"hidden_act": "gelu"}, `"hidden_act": "gelu"`},
		{"attention dropout", map[string]any{"attention_dropout": 0.1}, `"attention_dropout"`},
		{"head_dim null", map[string]any{"head_dim": null}, `"head_dim" is null`},
		{"odd head_dim", map[string]any{"head_dim": 7}, `"head_dim"`},
		{"layer_types too short", map[string]any{"layer_types": []string{"full_attention"}}, `"layer_types" lists 1 layers`},
		{"layer_types unknown", map[string]any{"layer_types": []string{"full_attention", "chunked_attention"}}, `"chunked_attention"`},
		{"layer_types not strings", map[string]any{"layer_types": []int{1, 2}}, `"layer_types"`},
		{"sliding layer without a window", map[string]any{"layer_types": []string{"full_attention", "sliding_attention"}}, `layer 1 is "sliding_attention" but there is no window`},
		{"pad_token_id past the vocabulary", map[string]any{"pad_token_id": 256}, `"pad_token_id" = 256`},
		{"negative pad_token_id", map[string]any{"pad_token_id": -1}, `"pad_token_id"`},
		{"negative max_window_layers", map[string]any{"use_sliding_window": true, "sliding_window": 4, "max_window_layers": -1}, `"max_window_layers"`},
		{"zero sliding_window", map[string]any{"use_sliding_window": true, "sliding_window": 0}, `"sliding_window"`},
		{"kv heads not dividing heads", map[string]any{"num_key_value_heads": 3}, `"num_key_value_heads"`},
		{"missing hidden_size", map[string]any{"hidden_size": nil}, `"hidden_size"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.fields)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range []string{"config.json", tc.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}
