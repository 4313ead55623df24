package model_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/gpt2"
	_ "github.com/orthotune/orthotune/model/llama"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// initConfigs are small configs of every registered architecture, as
// config.json would hold them.
var initConfigs = []struct {
	name   string
	cfg    map[string]any
	biases int // bias weights the architecture has at this size
}{
	{"llama", map[string]any{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 96, "max_position_embeddings": 64}, 0},
	{"llama tied", map[string]any{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
		"num_attention_heads": 4, "vocab_size": 96, "max_position_embeddings": 64, "tie_word_embeddings": true}, 0},
	{"mistral", map[string]any{"model_type": "mistral", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 1, "vocab_size": 96, "max_position_embeddings": 64, "sliding_window": 4}, 0},
	{"qwen2", map[string]any{"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 96, "max_position_embeddings": 64}, 6},
	{"gpt2", map[string]any{"model_type": "gpt2", "n_embd": 32, "n_head": 4, "n_layer": 2, "n_positions": 64,
		"vocab_size": 96}, 2*(2+4) + 1},
}

func parseInitConfig(t *testing.T, cfg map[string]any) *model.Config {
	t.Helper()
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	c, err := model.ParseConfig("config.json", data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNewInitialized builds every architecture from a config with drawn
// weights: the builder asks for each of the model's weights once, under its
// checkpoint name; NormalInit gives norms 1, biases 0 and matrices the
// asked spread; the model runs; and the directory WriteInitialized writes
// loads back to the same weights.
func TestNewInitialized(t *testing.T) {
	const std = 0.05
	for _, tc := range initConfigs {
		t.Run(tc.name, func(t *testing.T) {
			cfg := parseInitConfig(t, tc.cfg)
			asked := map[string][]int{}
			var order []string
			normal := model.NormalInit(std, tensor.NewRNG(7))
			m, err := model.NewInitialized(cfg, func(name string, shape []int) []float32 {
				if _, dup := asked[name]; dup {
					t.Errorf("%s asked for twice", name)
				}
				asked[name] = slices.Clone(shape)
				order = append(order, name)
				return normal(name, shape)
			})
			if err != nil {
				t.Fatal(err)
			}
			info := m.Info()
			if info.ModelType != tc.cfg["model_type"] || info.Layers != 2 || info.Vocab != 96 {
				t.Errorf("Info() = %+v, want %s with 2 layers and 96 tokens", info, tc.cfg["model_type"])
			}
			if len(info.CheckpointDTypes) != 0 {
				t.Errorf("CheckpointDTypes = %v, want none: nothing was read from disk", info.CheckpointDTypes)
			}
			params := m.Params()
			if len(params) != len(asked) {
				t.Errorf("model has %d weights, the builder asked for %d: %v", len(params), len(asked), order)
			}
			biases := 0
			for _, p := range params {
				shape, ok := asked[p.Name]
				if !ok {
					t.Errorf("weight %s was never asked for", p.Name)
					continue
				}
				if !slices.Equal(shape, p.W.Shape) {
					t.Errorf("%s: asked for shape %v, model has %v", p.Name, shape, p.W.Shape)
				}
				if p.Trainable() {
					t.Errorf("%s is trainable, want every weight frozen", p.Name)
				}
				if tc.name == "gpt2" && !strings.HasPrefix(p.Name, "transformer.") && p.Name != "lm_head.weight" {
					t.Errorf("%s: want the standard \"transformer.\" naming", p.Name)
				}
				switch {
				case strings.HasSuffix(p.Name, ".bias"):
					biases++
					if slices.ContainsFunc(p.W.Data, func(v float32) bool { return v != 0 }) {
						t.Errorf("bias %s is not all 0", p.Name)
					}
				case len(p.W.Shape) == 1:
					if slices.ContainsFunc(p.W.Data, func(v float32) bool { return v != 1 }) {
						t.Errorf("norm weight %s is not all 1", p.Name)
					}
				default:
					mean, sd := meanStd(p.W.Data)
					tol := 5 * std / math.Sqrt(float64(len(p.W.Data))) // five standard errors
					if math.Abs(mean) > tol || math.Abs(sd-std) > 0.25*std {
						t.Errorf("%s: mean %.4f, std %.4f, want N(0, %g²)", p.Name, mean, sd, std)
					}
				}
			}
			if biases != tc.biases {
				t.Errorf("%d biases, want %d", biases, tc.biases)
			}

			ids := [][]int{{1, 5, 9, 3, 7, 2}, {4, 4, 8, 0, 95, 6}}
			logits, err := m.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(logits.Shape, []int{2, 6, 96}) {
				t.Errorf("logits shape %v, want [2 6 96]", logits.Shape)
			}
			for _, v := range logits.Data {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("logits hold %v", v)
				}
			}

			dir := filepath.Join(t.TempDir(), "new") // WriteInitialized creates it
			if err := model.WriteInitialized(dir, cfg, m, ""); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.MarshalIndent(tc.cfg, "", "  ")
			if string(got) != string(want) {
				t.Errorf("config.json =\n%s\nwant the parsed bytes\n%s", got, want)
			}
			loaded, err := model.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if n := loaded.Info().CheckpointDTypes["F32"]; n != len(params) {
				t.Errorf("loaded %d F32 tensors, want %d", n, len(params))
			}
			assertSameParams(t, loaded, m)
			back, err := loaded.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			if d := tensor.MaxAbsDiff(back.Data, logits.Data); d != 0 {
				t.Errorf("loaded model's logits differ by %g", d)
			}
		})
	}
}

func meanStd(x []float32) (mean, std float64) {
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	for _, v := range x {
		std += (float64(v) - mean) * (float64(v) - mean)
	}
	return mean, math.Sqrt(std / float64(len(x)))
}

// assertSameParams requires got and want to have the same weights, by name,
// bit for bit.
func assertSameParams(t *testing.T, got, want model.CausalLM) {
	t.Helper()
	byName := map[string][]float32{}
	for _, p := range got.Params() {
		byName[p.Name] = p.W.Data
	}
	if len(byName) != len(want.Params()) {
		t.Errorf("%d weights, want %d", len(byName), len(want.Params()))
	}
	for _, p := range want.Params() {
		if g, ok := byName[p.Name]; !ok {
			t.Errorf("weight %s is missing", p.Name)
		} else if !slices.Equal(g, p.W.Data) {
			t.Errorf("weight %s differs", p.Name)
		}
	}
}

// TestNewInitializedDeterministic: the same InitFunc seed gives the same
// weights, and the draws follow the builder's order.
func TestNewInitializedDeterministic(t *testing.T) {
	cfg := parseInitConfig(t, initConfigs[0].cfg)
	build := func(seed uint64) model.CausalLM {
		m, err := model.NewInitialized(cfg, model.NormalInit(0.02, tensor.NewRNG(seed)))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b := build(3), build(3)
	assertSameParams(t, a, b)
	// The embedding table is asked for first, so it holds the first draws.
	want := tensor.NewRNG(3).Randn(0.02, 96, 32)
	if !slices.Equal(a.Params()[0].W.Data, want.Data) {
		t.Errorf("%s does not hold the generator's first draws", a.Params()[0].Name)
	}
	if c := build(4); slices.Equal(c.Params()[0].W.Data, a.Params()[0].W.Data) {
		t.Error("seeds 3 and 4 drew the same embedding")
	}
}

// TestWriteInitializedDTypes: a half-precision directory loads back to the
// weights rounded to that dtype.
func TestWriteInitializedDTypes(t *testing.T) {
	cfg := parseInitConfig(t, initConfigs[3].cfg)
	m, err := model.NewInitialized(cfg, model.NormalInit(0.02, tensor.NewRNG(1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range []safetensors.DType{safetensors.BF16, safetensors.F16} {
		dir := t.TempDir()
		if err := model.WriteInitialized(dir, cfg, m, dt); err != nil {
			t.Fatal(err)
		}
		loaded, err := model.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if n := loaded.Info().CheckpointDTypes[string(dt)]; n != len(m.Params()) {
			t.Errorf("%s: loaded %d %s tensors, want %d", dt, n, dt, len(m.Params()))
		}
		got := map[string][]float32{}
		for _, p := range loaded.Params() {
			got[p.Name] = p.W.Data
		}
		for _, p := range m.Params() {
			if d := tensor.MaxAbsDiff(got[p.Name], p.W.Data); d > 1e-3 {
				t.Errorf("%s: %s differs by %g after rounding", dt, p.Name, d)
			}
		}
	}
	if err := model.WriteInitialized(t.TempDir(), cfg, m, safetensors.I32); err == nil {
		t.Error("WriteInitialized with dtype I32 succeeded")
	}
}

// TestNewInitializedErrors: what NewInitialized refuses, and how it says so.
func TestNewInitializedErrors(t *testing.T) {
	llama := parseInitConfig(t, initConfigs[0].cfg)
	for _, tc := range []struct {
		name string
		cfg  *model.Config
		init model.InitFunc
		want string
	}{
		{"nil init", llama, nil, "init is nil"},
		{"unknown model_type", parseInitConfig(t, map[string]any{"model_type": "bert"}), model.NormalInit(1, tensor.NewRNG(1)),
			`model_type "bert" is not supported`},
		{"missing field", parseInitConfig(t, map[string]any{"model_type": "llama"}), model.NormalInit(1, tensor.NewRNG(1)),
			`field "hidden_size"`},
		{"short init", llama, func(name string, shape []int) []float32 { return make([]float32, 3) },
			`initialising weight "model.embed_tokens.weight": tensor: shape [96 32] holds 3072 elements, data has 3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := model.NewInitialized(tc.cfg, tc.init)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
