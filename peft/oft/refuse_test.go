package oft

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/llama"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/orth"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

func wantErr(t *testing.T, what string, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted, want an error naming %q", what, wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not contain %q", what, err, w)
		}
	}
	if strings.Contains(err.Error(), "Go struct") || strings.Contains(err.Error(), "oft.Config") {
		t.Errorf("%s: error %q shows Go internals", what, err)
	}
}

// TestNeumannTermsRefused: a Cayley–Neumann series with no terms is the
// identity, so training would change nothing: Validate refuses it, from
// settings (the flag path) and from adapter_config.json; the exact Cayley
// transform ignores the field.
func TestNeumannTermsRefused(t *testing.T) {
	for _, terms := range []string{"0", "-3"} {
		meth, ok := peft.LookupMethod("oft")
		if !ok {
			t.Fatal("oft is not registered")
		}
		cfg := meth.TrainingConfig()
		cfg.Base().TargetModules = peft.Pattern("all-linear")
		for _, s := range peft.Settings(cfg) {
			if s.Flag == "num-cayley-neumann-terms" {
				if err := s.Set(terms); err != nil {
					t.Fatal(err)
				}
			}
		}
		wantErr(t, "--num-cayley-neumann-terms "+terms, cfg.Validate(), "num_cayley_neumann_terms "+terms, "use_cayley_neumann")

		base, err := model.Load(filepath.Join(testref.Dir(), "model", "llama"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = peft.Wrap(base).Add("default", cfg, tensor.NewRNG(1))
		wantErr(t, "Add with "+terms+" terms", err, "num_cayley_neumann_terms")

		data := `{"peft_type": "OFT", "oft_block_size": 16, "r": 0, "target_modules": ["q_proj"], "use_cayley_neumann": true, "num_cayley_neumann_terms": ` + terms + `}`
		_, _, err = peft.ParseConfig("adapter_config.json", []byte(data))
		wantErr(t, "adapter_config.json with "+terms+" terms", err, "adapter_config.json: num_cayley_neumann_terms "+terms)
	}

	c := NewConfig(peft.Names("q_proj"))
	c.NumCayleyNeumannTerms = 0
	c.UseCayleyNeumann = false
	if err := c.Validate(); err != nil {
		t.Errorf("exact Cayley with num_cayley_neumann_terms 0: %v", err)
	}
}

// loadOne loads a stored oft_R.weight for a layer of in features with the
// block size b (rows blocks) under cfg.
func loadOne(cfg *Config, in, rows, b int) (peft.Layer, error) {
	base := &nn.Linear{Name: "model.layers.0.mlp.up_proj", In: in, Out: 4}
	return cfg.LoadLayer(&model.LinearSlot{Name: base.Name, Base: base}, map[string]*tensor.Tensor{"oft_R.weight": tensor.New(rows, orth.NumParams(b))})
}

// TestLoadLayerRefusesContradictingBlockSize: the block size the stored
// tensor implies must be the one the config resolves for the layer
// (oft_block_size, or in/r, adjusted as PEFT does), else the load is
// refused naming the layer, the config's setting and the tensor.
func TestLoadLayerRefusesContradictingBlockSize(t *testing.T) {
	withBlock := func(b int, share bool) *Config {
		c := NewConfig(peft.Names("up_proj"))
		c.BlockSize, c.BlockShare = b, share
		return c
	}
	withR := func(r int, share bool) *Config {
		c := withBlock(0, share)
		c.R = r
		return c
	}
	for _, tc := range []struct {
		name          string
		cfg           *Config
		in, rows, b   int
		wants         []string // nil: loads
		wantBlockSize int
	}{
		{"block size matches", withBlock(8, false), 24, 3, 8, nil, 8},
		{"block size contradicts", withBlock(4, false), 24, 3, 8,
			[]string{"layer model.layers.0.mlp.up_proj", "oft_R.weight has shape [3 28]", "blocks of 8", "oft_block_size 4", "blocks of 4", "24 input features"}, 0},
		{"adjusted block size matches", withBlock(5, false), 24, 6, 4, nil, 4}, // 5 does not divide 24: PEFT uses 4
		{"adjusted block size contradicts", withBlock(5, false), 24, 4, 6, []string{"oft_block_size 5", "blocks of 4", "blocks of 6"}, 0},
		{"r matches", withR(3, false), 24, 3, 8, nil, 8},
		{"r contradicts", withR(4, false), 24, 3, 8, []string{"r 4", "blocks of 6", "blocks of 8"}, 0},
		{"adjusted r matches", withR(5, false), 24, 4, 6, nil, 6}, // r 5 → 4 blocks of 6
		{"shared block matches", withBlock(8, true), 24, 1, 8, nil, 8},
		{"shared block contradicts", withBlock(4, true), 24, 1, 8, []string{"oft_block_size 4", "shape [1 28]"}, 0},
		{"shared block with r matches", withR(3, true), 24, 1, 8, nil, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := loadOne(tc.cfg, tc.in, tc.rows, tc.b)
			if tc.wants != nil {
				wantErr(t, tc.name, err, tc.wants...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := l.(*Layer).BlockSize; got != tc.wantBlockSize {
				t.Errorf("block size %d, want %d", got, tc.wantBlockSize)
			}
		})
	}
}

// TestLoadRefusesConfigContradictingWeights: the reference OFT adapter
// (blocks of 16) with its adapter_config.json's oft_block_size changed is
// refused by Load and by InspectDir, both naming the file, the layer and
// the setting; unchanged, it loads.
func TestLoadRefusesConfigContradictingWeights(t *testing.T) {
	src := filepath.Join(testref.Dir(), "model", "llama", "oft")
	dir := t.TempDir()
	for _, name := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "adapter_config.json" {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			m["oft_block_size"] = 8
			if b, err = json.Marshal(m); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	load := func(dir string) error {
		base, err := model.Load(filepath.Join(testref.Dir(), "model", "llama"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = peft.Wrap(base).Load("default", dir)
		return err
	}
	if err := load(src); err != nil {
		t.Fatalf("the reference adapter: %v", err)
	}
	wantErr(t, "Load", load(dir), "adapter_model.safetensors", "layer model.layers.0.self_attn.q_proj", "oft_block_size 8", "blocks of 16")
	_, err := peft.InspectDir(dir)
	wantErr(t, "InspectDir", err, "adapter_model.safetensors", "oft_block_size 8", "blocks of 16")
}
