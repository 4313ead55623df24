package testmodel_test

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/safetensors"
)

// TestWrite: every architecture loads back from what Write writes, with the
// dtype asked for; the same Spec writes the same bytes; NoPrefix writes the
// original GPT-2 layout; Std gives a freshly initialised model; Extra
// changes config.json only.
func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec testmodel.Spec
	}{
		{"llama", testmodel.Spec{ModelType: "llama"}},
		{"llama tied BF16", testmodel.Spec{ModelType: "llama", Tied: true, DType: safetensors.BF16}},
		{"mistral sliding window", testmodel.Spec{ModelType: "mistral", SlidingWindow: 4}},
		{"qwen2 F16", testmodel.Spec{ModelType: "qwen2", KVHeads: 2, DType: safetensors.F16}},
		{"qwen3 tied BF16", testmodel.Spec{ModelType: "qwen3", Tied: true, KVHeads: 2, DType: safetensors.BF16}},
		{"gpt2", testmodel.Spec{ModelType: "gpt2"}},
		{"gpt2 no prefix F16", testmodel.Spec{ModelType: "gpt2", NoPrefix: true, DType: safetensors.F16}},
		{"gpt2 std", testmodel.Spec{ModelType: "gpt2", Std: 0.02}},
	} {
		s := tc.spec
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := testmodel.Write(dir, s); err != nil {
				t.Fatal(err)
			}
			m, err := model.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			dtype := string(s.DType)
			if dtype == "" {
				dtype = "F32"
			}
			if got := m.Info().CheckpointDTypes; got[dtype] != len(m.Params()) || len(got) != 1 {
				t.Errorf("CheckpointDTypes = %v, want %d %s tensors", got, len(m.Params()), dtype)
			}
			again := t.TempDir()
			if _, err := testmodel.Write(again, s); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"config.json", "model.safetensors"} {
				if a, b := digest(t, filepath.Join(dir, name)), digest(t, filepath.Join(again, name)); a != b {
					t.Errorf("%s differs between two writes of the same Spec", name)
				}
			}
			f, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			names := f.Names()
			if s.NoPrefix {
				if !slices.Contains(names, "h.0.attn.bias") || slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "transformer.") }) {
					t.Errorf("NoPrefix wrote %v", names)
				}
			}
			for _, p := range m.Params() {
				switch {
				case strings.HasSuffix(p.Name, ".bias"):
					if s.Std > 0 && slices.ContainsFunc(p.W.Data, func(v float32) bool { return v != 0 }) {
						t.Errorf("Std: bias %s is not 0", p.Name)
					}
				case len(p.W.Shape) == 1:
					want := func(v float32) bool { return v != 1 } // Std: norms at 1
					if s.Std == 0 {
						want = func(v float32) bool { return v < 0.5 || v > 1.5 } // 1 + N(0, 0.1²)
					}
					if slices.ContainsFunc(p.W.Data, want) {
						t.Errorf("norm weight %s is not near 1", p.Name)
					}
				}
			}
		})
	}
}

// TestWriteExtra: Extra overrides config.json after the weights are drawn,
// so a Spec can describe a checkpoint its config does not match.
func TestWriteExtra(t *testing.T) {
	dir := t.TempDir()
	cfg, err := testmodel.Write(dir, testmodel.Spec{ModelType: "llama", Extra: map[string]any{"intermediate_size": 30, "rope_theta": nil}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg["rope_theta"]; ok || cfg["intermediate_size"] != 30 {
		t.Errorf("config %v, want Extra applied", cfg)
	}
	if _, err := model.Load(dir); err == nil || !strings.Contains(err.Error(), "config.json implies [30 16]") {
		t.Errorf("Load: %v, want a shape mismatch against intermediate_size 30", err)
	}
}

func digest(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
