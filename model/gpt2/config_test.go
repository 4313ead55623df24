package gpt2

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
)

func parse(t *testing.T, fields map[string]any) (*Config, error) {
	t.Helper()
	base := map[string]any{"model_type": "gpt2", "n_embd": 64, "n_head": 4, "n_layer": 2, "n_positions": 32, "vocab_size": 50}
	for k, v := range fields {
		base[k] = v
	}
	data, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	c, err := model.ParseConfig("config.json", data)
	if err != nil {
		t.Fatal(err)
	}
	return ParseConfig(c)
}

func TestConfigDefaultsAndOptions(t *testing.T) {
	c, err := parse(t, map[string]any{"n_inner": nil})
	if err != nil {
		t.Fatal(err)
	}
	if c.Inner != 256 || c.LayerNormEps != 1e-5 || c.Activation != nn.GELUTanh || !c.ScaleAttnWeights || !c.TieEmbeddings {
		t.Errorf("defaults: %+v", c)
	}
	c, err = parse(t, map[string]any{"activation_function": "gelu", "scale_attn_by_inverse_layer_idx": true, "n_inner": 100})
	if err != nil {
		t.Fatal(err)
	}
	if c.Activation != nn.GELUExact || !c.ScaleByInverseLayerIdx || c.Inner != 100 {
		t.Errorf("options: %+v", c)
	}
	for _, tc := range []struct {
		fields map[string]any
		want   string
	}{
		{map[string]any{"activation_function": "swish"}, `"activation_function"`},
		{map[string]any{"n_head": 5}, `"n_head"`},
		{map[string]any{"n_positions": nil}, `"n_positions"`},
		{map[string]any{"layer_norm_epsilon": "small"}, `"layer_norm_epsilon"`},
	} {
		if _, err := parse(t, tc.fields); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "config.json") {
			t.Errorf("%v: error %v, want one naming config.json and %s", tc.fields, err, tc.want)
		}
	}
}
