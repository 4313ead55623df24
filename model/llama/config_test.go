package llama

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
)

func parse(t *testing.T, fields map[string]any) (*Config, error) {
	t.Helper()
	base := map[string]any{
		"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
		"num_attention_heads": 2, "vocab_size": 100, "max_position_embeddings": 8192, "rope_theta": 500000.0,
	}
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

func TestRopeScaling(t *testing.T) {
	plain, err := parse(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plain.InvFreq[1], math.Pow(500000, -2.0/128); math.Abs(got-want) > 1e-15 {
		t.Fatalf("inv_freq[1] = %v, want θ^(-2/d) = %v", got, want)
	}
	linear, err := parse(t, map[string]any{"rope_scaling": map[string]any{"type": "linear", "factor": 4.0}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range plain.InvFreq {
		if math.Abs(linear.InvFreq[i]*4-plain.InvFreq[i]) > 1e-15 {
			t.Fatalf("linear scaling: inv_freq[%d] = %v, want %v/4", i, linear.InvFreq[i], plain.InvFreq[i])
		}
	}
	// Llama 3.1's published settings: wavelengths under 8192/4 keep their
	// frequency, over 8192/1 are divided by 8, in between interpolate.
	l3, err := parse(t, map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8.0,
		"low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})
	if err != nil {
		t.Fatal(err)
	}
	var kept, divided, between int
	for i, f := range plain.InvFreq {
		wavelen := 2 * math.Pi / f
		g := l3.InvFreq[i]
		switch {
		case wavelen < 2048:
			kept++
			if g != f {
				t.Errorf("high frequency %d changed: %v -> %v", i, f, g)
			}
		case wavelen > 8192:
			divided++
			if math.Abs(g*8-f) > 1e-18 {
				t.Errorf("low frequency %d: %v, want %v/8", i, g, f)
			}
		default:
			between++
			if !(g < f && g > f/8) {
				t.Errorf("mid frequency %d: %v not between %v/8 and %v", i, g, f, f)
			}
		}
	}
	if kept == 0 || divided == 0 || between == 0 {
		t.Errorf("test does not exercise all three bands: %d kept, %d divided, %d between", kept, divided, between)
	}
}

func TestConfigVariants(t *testing.T) {
	qwen, err := parse(t, map[string]any{"model_type": "qwen2", "num_hidden_layers": 4, "use_sliding_window": true,
		"sliding_window": 64, "max_window_layers": 2})
	if err != nil {
		t.Fatal(err)
	}
	if !qwen.QKVBias || qwen.OutBias || qwen.SlidingWindow[1] != 0 || qwen.SlidingWindow[2] != 64 {
		t.Errorf("qwen2: qkv bias %v, o bias %v, windows %v", qwen.QKVBias, qwen.OutBias, qwen.SlidingWindow)
	}
	mistral, err := parse(t, map[string]any{"model_type": "mistral", "sliding_window": 4096, "num_key_value_heads": 1})
	if err != nil {
		t.Fatal(err)
	}
	if mistral.SlidingWindow[0] != 4096 || mistral.KVHeads != 1 || mistral.HeadDim != 128 {
		t.Errorf("mistral: windows %v, kv heads %d, head dim %d", mistral.SlidingWindow, mistral.KVHeads, mistral.HeadDim)
	}
	llama, err := parse(t, map[string]any{"sliding_window": 16, "head_dim": 64, "attention_bias": true})
	if err != nil {
		t.Fatal(err)
	}
	if llama.SlidingWindow[0] != 0 || llama.HeadDim != 64 || !llama.QKVBias || !llama.OutBias {
		t.Errorf("llama: windows %v (llama ignores sliding_window), head dim %d, biases %v %v", llama.SlidingWindow, llama.HeadDim, llama.QKVBias, llama.OutBias)
	}
	for _, tc := range []struct {
		fields map[string]any
		want   string
	}{
		{map[string]any{"num_key_value_heads": 3}, `"num_key_value_heads"`},
		{map[string]any{"head_dim": 7}, `"head_dim"`},
		{map[string]any{"rope_scaling": map[string]any{"rope_type": "dynamic", "factor": 2}}, `"dynamic"`},
		{map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8}}, `"low_freq_factor"`},
		{map[string]any{"tie_word_embeddings": "yes"}, `"tie_word_embeddings"`},
		{map[string]any{"vocab_size": 0}, `"vocab_size"`},
		{map[string]any{"model_type": "qwen3"}, `"model_type": "qwen3" is not one of package llama's`},
	} {
		if _, err := parse(t, tc.fields); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "config.json") {
			t.Errorf("%v: error %v, want one naming config.json and %s", tc.fields, err, tc.want)
		}
	}
}

// TestRopeParameters: transformers v5's rope_parameters gives the same
// frequencies as the 4.x rope_theta and rope_scaling it replaces.
func TestRopeParameters(t *testing.T) {
	scaling := map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
		"original_max_position_embeddings": 8192}
	v4, err := parse(t, map[string]any{"rope_theta": 250000.0, "rope_scaling": scaling})
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]any{"rope_theta": 250000.0}
	for k, v := range scaling {
		params[k] = v
	}
	v5, err := parse(t, map[string]any{"rope_theta": nil, "rope_parameters": params})
	if err != nil {
		t.Fatal(err)
	}
	if v5.RopeTheta != 250000 || !slices.Equal(v4.InvFreq, v5.InvFreq) {
		t.Errorf("rope_parameters: theta %g, frequencies equal %v; want 250000 and the rope_scaling ones", v5.RopeTheta, slices.Equal(v4.InvFreq, v5.InvFreq))
	}
	if slices.Equal(v5.InvFreq, nn.DefaultInvFreq(v5.HeadDim, 250000)) {
		t.Error("rope_parameters' llama3 scaling was not applied")
	}
}
