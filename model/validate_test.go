package model_test

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// goInternals are fragments of messages that come from Go's libraries
// rather than from orthotune, which no error about a model directory should
// show.
var goInternals = []string{" json: ", "cannot unmarshal", "unsupported value", "float64", "strconv", "runtime", "makeslice", "Go value"}

// checkMessage fails t unless err is an error that mentions every want
// and no Go internals.
func checkMessage(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	t.Logf("error: %v", err)
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q", w)
		}
	}
	for _, g := range goInternals {
		if strings.Contains(err.Error(), g) {
			t.Errorf("error shows Go internals (%q)", g)
		}
	}
}

// poison rewrites dir's model.safetensors in dtype with element i of
// tensor name set to v.
func poison(t *testing.T, dir string, dtype safetensors.DType, name string, i int, v float32) {
	t.Helper()
	path := filepath.Join(dir, safetensors.SingleFileName)
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var entries []safetensors.Entry
	found := false
	for _, n := range f.Names() {
		w, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		if n == name {
			w.Data[i], found = v, true
		}
		entries = append(entries, safetensors.Entry{Name: n, DType: dtype, Shape: w.Shape, Float: w.Data})
	}
	f.Close()
	if !found {
		t.Fatalf("no tensor %q in %s", name, path)
	}
	if err := safetensors.Write(path, entries, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
}

// TestLoadRefusesNonFiniteWeights: a checkpoint holding NaN or ±Inf, in any
// float dtype, is refused with its file, the tensor and the element.
func TestLoadRefusesNonFiniteWeights(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		name   string
		spec   testmodel.Spec
		dtype  safetensors.DType
		tensor string
		at     int
		value  float32
		want   string
	}{
		{"llama F32 NaN", testmodel.Spec{ModelType: "llama"}, safetensors.F32, "model.layers.1.mlp.up_proj.weight", 7, nan, "NaN at element 7"},
		{"llama F32 +Inf in a norm", testmodel.Spec{ModelType: "llama"}, safetensors.F32, "model.norm.weight", 0, inf, "+Inf at element 0"},
		{"llama BF16 -Inf in the embedding", testmodel.Spec{ModelType: "llama"}, safetensors.BF16, "model.embed_tokens.weight", 100, -inf, "-Inf at element 100"},
		{"qwen2 F16 NaN in a bias", testmodel.Spec{ModelType: "qwen2"}, safetensors.F16, "model.layers.0.self_attn.k_proj.bias", 3, nan, "NaN at element 3"},
		{"gpt2 F32 NaN in a Conv1D", testmodel.Spec{ModelType: "gpt2"}, safetensors.F32, "transformer.h.1.attn.c_attn.weight", 12, nan, "NaN at element 12"},
		{"gpt2 F16 +Inf in the position table", testmodel.Spec{ModelType: "gpt2"}, safetensors.F16, "transformer.wpe.weight", 31, inf, "+Inf at element 31"},
		{"F64 value beyond float32", testmodel.Spec{ModelType: "llama"}, safetensors.F64, "model.layers.0.self_attn.o_proj.weight", 5, inf, "+Inf at element 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			if _, err := testmodel.Write(dir, tc.spec); err != nil {
				t.Fatal(err)
			}
			poison(t, dir, tc.dtype, tc.tensor, tc.at, tc.value)
			_, err := model.Load(dir)
			checkMessage(t, err, safetensors.SingleFileName, fmt.Sprintf("tensor %q holds %s", tc.tensor, tc.want))
		})
	}
}

// TestLoadRefusesInvalidConfigNumbers: config.json numbers that must be
// positive and finite are refused with the file, the field and its value.
// JSON has no NaN, and a number beyond float64 (1e999) is refused as not
// finite.
func TestLoadRefusesInvalidConfigNumbers(t *testing.T) {
	huge := json.RawMessage("1e999")
	llama3 := func(edit map[string]any) map[string]any {
		rs := map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
			"original_max_position_embeddings": 32}
		for k, v := range edit {
			rs[k] = v
		}
		return map[string]any{"rope_scaling": rs}
	}
	for _, tc := range []struct {
		name  string
		model string
		extra map[string]any
		want  string
	}{
		{"negative rms_norm_eps", "llama", map[string]any{"rms_norm_eps": -1}, `field "rms_norm_eps" = -1: want > 0`},
		{"zero rms_norm_eps", "mistral", map[string]any{"rms_norm_eps": 0}, `field "rms_norm_eps" = 0: want > 0`},
		{"infinite rms_norm_eps", "qwen2", map[string]any{"rms_norm_eps": huge}, `field "rms_norm_eps" = 1e999: want a finite number`},
		{"zero rope_theta", "llama", map[string]any{"rope_theta": 0}, `field "rope_theta" = 0: want > 0`},
		{"negative rope_theta", "llama", map[string]any{"rope_theta": -10000}, `field "rope_theta" = -10000: want > 0`},
		{"infinite rope_theta", "llama", map[string]any{"rope_theta": huge}, `field "rope_theta" = 1e999: want a finite number`},
		{"zero linear factor", "llama", map[string]any{"rope_scaling": map[string]any{"type": "linear", "factor": 0}},
			`field rope_scaling: field "factor" = 0: want > 0`},
		{"infinite linear factor", "llama", map[string]any{"rope_scaling": map[string]any{"type": "linear", "factor": huge}},
			`field rope_scaling: field "factor" = 1e999: want a finite number`},
		{"negative llama3 factor", "llama", llama3(map[string]any{"factor": -8}), `field "factor" = -8: want > 0`},
		{"zero low_freq_factor", "llama", llama3(map[string]any{"low_freq_factor": 0}), `field "low_freq_factor" = 0: want > 0`},
		{"high_freq_factor not above low", "llama", llama3(map[string]any{"high_freq_factor": 1}), `field "high_freq_factor" = 1: want more than low_freq_factor 1`},
		{"zero original_max_position_embeddings", "llama", llama3(map[string]any{"original_max_position_embeddings": 0}),
			`field "original_max_position_embeddings" = 0: want > 0`},
		{"zero layer_norm_epsilon", "gpt2", map[string]any{"layer_norm_epsilon": 0}, `field "layer_norm_epsilon" = 0: want > 0`},
		{"negative layer_norm_epsilon", "gpt2", map[string]any{"layer_norm_epsilon": -1e-5}, `field "layer_norm_epsilon" = -0.00001: want > 0`},
		{"infinite layer_norm_epsilon", "gpt2", map[string]any{"layer_norm_epsilon": huge}, `field "layer_norm_epsilon" = 1e999: want a finite number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			if _, err := testmodel.Write(dir, testmodel.Spec{ModelType: tc.model, Extra: tc.extra}); err != nil {
				t.Fatal(err)
			}
			_, err := model.Load(dir)
			checkMessage(t, err, filepath.Join(dir, "config.json")+": ", tc.want)
		})
	}
}

// oversized lists config.json edits that imply tensors or buffers far
// beyond the tiny checkpoint testmodel writes (or beyond any machine), and
// the field each error must name.
var oversized = []struct {
	name  string
	model string
	extra map[string]any
	field string
}{
	{"head_dim 1e9", "llama", map[string]any{"head_dim": 1e9}, "head_dim"},
	{"head_dim 1e6", "llama", map[string]any{"head_dim": 1e6}, "head_dim"},
	{"hidden_size 1e9", "llama", map[string]any{"hidden_size": 1e9}, "hidden_size"},
	{"vocab_size 1e12", "llama", map[string]any{"vocab_size": 1e12}, "vocab_size"},
	{"intermediate_size 1e12", "mistral", map[string]any{"intermediate_size": 1e12}, "intermediate_size"},
	{"num_attention_heads 1e9", "llama", map[string]any{"num_attention_heads": 1e9, "num_key_value_heads": 1e9, "head_dim": 4}, "num_attention_heads"},
	{"num_attention_heads 2^20, within bounds but not the checkpoint's", "qwen2", map[string]any{"num_attention_heads": 1 << 20, "num_key_value_heads": 1 << 20, "head_dim": 4}, "num_attention_heads"},
	{"num_hidden_layers 1e7", "llama", map[string]any{"num_hidden_layers": 1e7}, "num_hidden_layers"},
	{"num_hidden_layers 1e9", "mistral", map[string]any{"num_hidden_layers": 1e9}, "num_hidden_layers"},
	{"num_hidden_layers 1e12", "qwen2", map[string]any{"num_hidden_layers": 1e12}, "num_hidden_layers"},
	// 536838145 × 34361835584 = 2^64 + 64: without checked multiplication
	// the query width wraps around to 64, the checkpoint's.
	{"num_attention_heads × head_dim overflows", "llama",
		map[string]any{"num_attention_heads": 536838145, "num_key_value_heads": 536838145, "head_dim": 34361835584}, "head_dim"},
	{"n_embd 1e9", "gpt2", map[string]any{"n_embd": 1e9}, "n_embd"},
	{"vocab_size 1e12 (gpt2)", "gpt2", map[string]any{"vocab_size": 1e12}, "vocab_size"},
	{"n_positions 1e12", "gpt2", map[string]any{"n_positions": 1e12}, "n_positions"},
	{"n_positions 1e6", "gpt2", map[string]any{"n_positions": 1e6}, "n_positions"},
	{"n_inner 1e12", "gpt2", map[string]any{"n_inner": 1e12}, "n_inner"},
	{"n_layer 1e7", "gpt2", map[string]any{"n_layer": 1e7}, "n_layer"},
	{"n_layer 1e12", "gpt2", map[string]any{"n_layer": 1e12}, "n_layer"},
}

// TestLoadRefusesOversizedConfigs: a config.json whose sizes the checkpoint
// cannot hold is refused by arithmetic, naming the field, in well under a
// second and without allocating what the sizes imply.
func TestLoadRefusesOversizedConfigs(t *testing.T) {
	for _, tc := range oversized {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			if _, err := testmodel.Write(dir, testmodel.Spec{ModelType: tc.model, Extra: tc.extra}); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := model.Load(dir)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			checkMessage(t, err, "config.json", fmt.Sprintf("field %q", tc.field))
			if elapsed > 2*time.Second {
				t.Errorf("took %v to refuse, want well under a second", elapsed)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 200<<20 {
				t.Errorf("allocated %d MiB before refusing, want almost nothing", alloc>>20)
			}
		})
	}
}

// TestNewInitializedRefusesOversizedConfigs: without a checkpoint to
// compare with, a config implying a tensor beyond model.MaxTensorElements
// or blocks beyond model.MaxParameters is refused before anything is
// drawn or allocated.
func TestNewInitializedRefusesOversizedConfigs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   string
		field string
	}{
		{"head_dim 1e9", `{"model_type": "llama", "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
			"num_attention_heads": 4, "vocab_size": 32, "max_position_embeddings": 64, "head_dim": 1000000000}`, "head_dim"},
		{"num_hidden_layers 1e12", `{"model_type": "llama", "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 1e12,
			"num_attention_heads": 4, "vocab_size": 32, "max_position_embeddings": 64}`, "num_hidden_layers"},
		{"heads × head_dim overflows", `{"model_type": "qwen2", "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
			"num_attention_heads": 536838145, "vocab_size": 32, "max_position_embeddings": 64, "head_dim": 34361835584}`, "head_dim"},
		{"n_layer 1e12", `{"model_type": "gpt2", "n_embd": 16, "n_head": 4, "n_layer": 1e12, "n_positions": 64, "vocab_size": 32}`, "n_layer"},
		{"vocab_size 1e12", `{"model_type": "gpt2", "n_embd": 16, "n_head": 4, "n_layer": 2, "n_positions": 64, "vocab_size": 1e12}`, "vocab_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := model.ParseConfig("config.json", []byte(tc.cfg))
			if err != nil {
				t.Fatal(err)
			}
			drawn := 0
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err = model.NewInitialized(cfg, func(name string, shape []int) []float32 {
				n, err := tensor.Numel(shape)
				if err != nil || n > 1<<20 {
					t.Fatalf("asked to draw %s of shape %v", name, shape)
				}
				drawn++
				return make([]float32, n)
			})
			runtime.ReadMemStats(&after)
			checkMessage(t, err, "config.json", fmt.Sprintf("field %q", tc.field), "too large")
			if drawn != 0 {
				t.Errorf("drew %d weights before refusing", drawn)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 200<<20 {
				t.Errorf("allocated %d MiB before refusing, want almost nothing", alloc>>20)
			}
		})
	}
}
