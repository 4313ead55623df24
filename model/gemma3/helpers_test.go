package gemma3_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/model/gemma3"
	"github.com/orthotune/orthotune/tensor"
)

// tinyConfig is a small Gemma 3 config.json as a map: 3 layers (sliding,
// full, sliding), head_dim ≠ hidden/heads, query_pre_attn_scalar ≠
// head_dim, window 3.
func tinyConfig() map[string]any {
	return map[string]any{
		"model_type": "gemma3_text", "hidden_size": 12, "intermediate_size": 20, "num_hidden_layers": 3,
		"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 6, "vocab_size": 24,
		"max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
		"query_pre_attn_scalar": 10, "sliding_window": 3, "sliding_window_pattern": 2, "pad_token_id": 0,
		"hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": true,
	}
}

// parse turns a config map, with overrides applied (nil deletes), into a
// model.Config.
func parse(t testing.TB, cfg map[string]any, over map[string]any) *model.Config {
	t.Helper()
	for k, v := range over {
		if v == nil {
			delete(cfg, k)
		} else {
			cfg[k] = v
		}
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := model.ParseConfig("test/config.json", data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newModel builds a tiny Gemma 3 with seeded weights large enough that
// every part matters: embeddings N(0, 0.5²), matrices N(0, 0.3²), biases
// N(0, 0.3²), norm offsets N(0, 0.2²).
func newModel(t testing.TB, over map[string]any, seed uint64) *gemma3.Model {
	t.Helper()
	rng := tensor.NewRNG(seed)
	m, err := model.NewInitialized(parse(t, tinyConfig(), over), func(name string, shape []int) []float32 {
		std := 0.3
		switch {
		case strings.HasSuffix(name, "embed_tokens.weight"):
			std = 0.5
		case len(shape) == 1 && !strings.HasSuffix(name, ".bias"):
			std = 0.2
		}
		return rng.Randn(std, shape...).Data
	})
	if err != nil {
		t.Fatal(err)
	}
	return m.(*gemma3.Model)
}

func randomIDs(rng *tensor.RNG, batch, seq, vocab int) [][]int {
	ids := make([][]int, batch)
	for b := range ids {
		ids[b] = make([]int, seq)
		for i := range ids[b] {
			ids[b][i] = rng.IntN(vocab)
		}
	}
	return ids
}
