package model_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// copyModelAs rewrites the reference Llama checkpoint with every tensor in
// dtype (values rounded by the writer) and returns the new directory.
func copyModelAs(t *testing.T, src string, dtype safetensors.DType, round func(float32) float32) string {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var entries []safetensors.Entry
	for _, name := range f.Names() {
		w, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		if round != nil {
			for i, v := range w.Data {
				w.Data[i] = round(v)
			}
		}
		entries = append(entries, safetensors.Entry{Name: name, DType: dtype, Shape: w.Shape, Float: w.Data})
	}
	dir := filepath.Join(t.TempDir(), string(dtype))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), entries, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestHalfPrecisionCheckpoints: a model stored in BF16 (or F16) gives the
// logits of its F32 copy with the same rounding applied, and stays within
// the rounding's effect of the original F32 model.
func TestHalfPrecisionCheckpoints(t *testing.T) {
	src := filepath.Join(testref.Dir(), "model", "llama")
	ids := [][]int{{1, 17, 200, 3, 99, 42, 5, 8}, {255, 0, 12, 13, 14, 15, 16, 77}}
	logitsOf := func(dir string) *tensor.Tensor {
		m, err := model.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		l, err := m.Forward(ids)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	f32 := logitsOf(src)
	for _, tc := range []struct {
		dtype safetensors.DType
		round func(float32) float32
		// Half precision keeps 8 (BF16) or 11 (F16) significant bits, so
		// logits of magnitude ~3 may move by a few 2^-8 relative steps.
		bound float64
	}{
		{safetensors.BF16, tensor.RoundBF16, 0.06},
		{safetensors.F16, func(v float32) float32 { return tensor.F16ToF32(tensor.F32ToF16(v)) }, 0.008},
	} {
		t.Run(string(tc.dtype), func(t *testing.T) {
			half := logitsOf(copyModelAs(t, src, tc.dtype, nil))
			rounded := logitsOf(copyModelAs(t, src, safetensors.F32, tc.round))
			if d := tensor.MaxAbsDiff(half.Data, rounded.Data); d != 0 {
				t.Errorf("%s checkpoint differs from its rounded F32 copy by %g; conversion must be exact", tc.dtype, d)
			}
			d := tensor.MaxAbsDiff(half.Data, f32.Data)
			t.Logf("%s vs F32 logits: max |Δ| = %.3g (bound %.3g)", tc.dtype, d, tc.bound)
			if d > tc.bound || d == 0 {
				t.Errorf("%s vs F32 logits differ by %g, want (0, %g]", tc.dtype, d, tc.bound)
			}
			m, err := model.Load(copyModelAs(t, src, tc.dtype, nil))
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Info().CheckpointDTypes; got[string(tc.dtype)] != 21 || len(got) != 1 {
				t.Errorf("checkpoint dtypes %v, want 21 × %s", got, tc.dtype)
			}
		})
	}
}

// TestLoadErrors: bad model directories fail with errors that name the file
// and the field or tensor at fault.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spec   testmodel.Spec
		mutate func(t *testing.T, dir string)
		want   []string
	}{
		{
			name: "missing config field",
			spec: testmodel.Spec{ModelType: "llama", Extra: map[string]any{"hidden_size": nil}},
			want: []string{"config.json", `"hidden_size"`, "missing"},
		},
		{
			name: "missing gpt2 config field",
			spec: testmodel.Spec{ModelType: "gpt2", Extra: map[string]any{"n_head": nil}},
			want: []string{"config.json", `"n_head"`, "missing"},
		},
		{
			name: "wrong type in config field",
			spec: testmodel.Spec{ModelType: "llama", Extra: map[string]any{"num_hidden_layers": "two"}},
			want: []string{"config.json", `"num_hidden_layers"`, "integer"},
		},
		{
			name: "unknown model_type",
			spec: testmodel.Spec{ModelType: "llama", Extra: map[string]any{"model_type": "bert"}},
			want: []string{"config.json", `model_type "bert"`, "gpt2, llama, mistral, qwen2"},
		},
		{
			name: "missing model_type",
			spec: testmodel.Spec{ModelType: "llama", Extra: map[string]any{"model_type": nil}},
			want: []string{"config.json", `"model_type"`},
		},
		{
			name: "unsupported activation",
			spec: testmodel.Spec{ModelType: "llama", Extra: map[string]any{"hidden_act": "relu"}},
			want: []string{"config.json", `"hidden_act"`, "relu"},
		},
		{
			name: "unsupported rope scaling",
			spec: testmodel.Spec{ModelType: "llama", Extra: map[string]any{"rope_scaling": map[string]any{"rope_type": "yarn", "factor": 4}}},
			want: []string{"config.json", "rope_scaling", "yarn"},
		},
		{
			name: "config shape disagrees with checkpoint",
			spec: testmodel.Spec{ModelType: "llama", Extra: map[string]any{"intermediate_size": 30}},
			want: []string{"model.safetensors", `"model.layers.0.mlp.gate_proj.weight"`, "[24 16]", "[30 16]"},
		},
		{
			name: "tensor missing from checkpoint",
			spec: testmodel.Spec{ModelType: "llama", Extra: map[string]any{"num_hidden_layers": 3}},
			want: []string{"model.safetensors", `"model.layers.2.input_layernorm.weight"`, "missing"},
		},
		{
			name: "untied head missing",
			spec: testmodel.Spec{ModelType: "llama", Tied: true, Extra: map[string]any{"tie_word_embeddings": false}},
			want: []string{"model.safetensors", `"lm_head.weight"`, "missing"},
		},
		{
			name: "no weights file",
			spec: testmodel.Spec{ModelType: "gpt2"},
			mutate: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, "model.safetensors")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"model.safetensors"},
		},
		{
			name: "config not JSON",
			spec: testmodel.Spec{ModelType: "gpt2"},
			mutate: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{not json"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"config.json", "JSON"},
		},
		{
			name: "truncated weights",
			spec: testmodel.Spec{ModelType: "gpt2"},
			mutate: func(t *testing.T, dir string) {
				p := filepath.Join(dir, "model.safetensors")
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(p, st.Size()-100); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"model.safetensors"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			if _, err := testmodel.Write(dir, tc.spec); err != nil {
				t.Fatal(err)
			}
			if tc.mutate != nil {
				tc.mutate(t, dir)
			}
			_, err := model.Load(dir)
			if err == nil {
				t.Fatal("loaded without error")
			}
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	_, err := model.Load(filepath.Join(t.TempDir(), "nowhere"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing directory: %v, want a not-exist error", err)
	}
}

func TestCheckIDs(t *testing.T) {
	for _, tc := range []struct {
		name string
		ids  [][]int
		want string
	}{
		{"empty batch", nil, "input_ids is empty"},
		{"empty row", [][]int{{}}, "input_ids[0] is empty"},
		{"ragged", [][]int{{1, 2}, {3}}, "input_ids[1] has 1 tokens"},
		{"out of range", [][]int{{1, 2}, {3, 32}}, "input_ids[1][1] = 32"},
		{"negative", [][]int{{-1}}, "input_ids[0][0] = -1"},
		{"too long", [][]int{{1, 2, 3, 4, 5}}, "more than the model's 4 positions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := model.CheckIDs(tc.ids, 32, 4)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckIDs = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if err := model.CheckIDs([][]int{{0, 31}}, 32, 4); err != nil {
		t.Errorf("valid ids rejected: %v", err)
	}
}
