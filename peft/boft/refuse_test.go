package boft

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/llama"
	"github.com/orthotune/orthotune/nn"
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
	if strings.Contains(err.Error(), "Go struct") || strings.Contains(err.Error(), "boft.Config") {
		t.Errorf("%s: error %q shows Go internals", what, err)
	}
}

func withBlocks(size, num, factors int) *Config {
	c := NewConfig(peft.Names("up_proj"))
	c.BlockSize, c.BlockNum, c.Factors = size, num, factors
	return c
}

// TestValidate: the config-time refusals, naming the fields.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   *Config
		wants []string
	}{
		{"both set", withBlocks(4, 4, 1), []string{"boft_block_size (4)", "boft_block_num (4)", "both set"}},
		{"neither set", withBlocks(0, 0, 1), []string{"boft_block_size and boft_block_num are both 0"}},
		{"negative", withBlocks(-4, 0, 1), []string{"boft_block_size (-4)", "negative"}},
		{"no factor", withBlocks(4, 0, 0), []string{"boft_n_butterfly_factor 0"}},
		{"dropout 1", func() *Config { c := withBlocks(4, 0, 1); c.Dropout = 1; return c }(), []string{"boft_dropout 1"}},
		{"bad bias", func() *Config { c := withBlocks(4, 0, 1); c.Bias = "oft_only"; return c }(), []string{"bias \"oft_only\"", "boft_only"}},
		{"no targets", func() *Config { c := withBlocks(4, 0, 1); c.TargetModules = peft.ModuleList{}; return c }(), []string{"target_modules"}},
	} {
		wantErr(t, tc.name, tc.cfg.Validate(), tc.wants...)
	}
	if err := withBlocks(0, 4, 2).Validate(); err != nil {
		t.Errorf("block number form: %v", err)
	}
	// PEFT's BOFTConfig(boft_block_num=4) is an error: boft_block_size defaults to 4.
	_, _, err := peft.ParseConfig("adapter_config.json", []byte(`{"peft_type": "BOFT", "boft_block_num": 4, "target_modules": ["q_proj"]}`))
	wantErr(t, "boft_block_num alone", err, "adapter_config.json", "boft_block_size (4)", "boft_block_num (4)")
	// Settings: --boft-block-num resolves the default block size away.
	meth, _ := peft.LookupMethod("boft")
	cfg := meth.TrainingConfig()
	cfg.Base().TargetModules = peft.Names("q_proj")
	for _, s := range peft.Settings(cfg) {
		if !strings.HasPrefix(s.Flag, "boft-") {
			t.Errorf("flag %q does not start with boft-", s.Flag)
		}
		if s.Flag == "boft-block-num" {
			if err := s.Set("4"); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg.(peft.Resolver).Resolve()
	if err := cfg.Validate(); err != nil {
		t.Errorf("--boft-block-num 4: %v", err)
	}
}

// TestNewLayerRefusals: PEFT's layer-time refusals (with its CUDA
// extension), naming the layer and the numbers.
func TestNewLayerRefusals(t *testing.T) {
	newOne := func(c *Config, in int) error {
		base := &nn.Linear{Name: "model.layers.0.mlp.up_proj", In: in, Out: 4}
		_, err := c.NewLayer(&model.LinearSlot{Name: base.Name, Base: base}, tensor.NewRNG(1))
		return err
	}
	for _, tc := range []struct {
		name  string
		cfg   *Config
		in    int
		wants []string // nil: accepted
	}{
		{"block size tiles", withBlocks(8, 0, 2), 32, nil},
		{"block size does not tile", withBlocks(5, 0, 1), 32, []string{"layer model.layers.0.mlp.up_proj", "boft_block_size 5", "in_features 32"}},
		{"block num does not tile", withBlocks(0, 5, 1), 32, []string{"boft_block_num 5", "in_features 32"}},
		{"factor too large for block num", withBlocks(0, 4, 4), 32, []string{"boft_n_butterfly_factor 4", "boft_block_num 4", "at most"}},
		{"block num not divisible", withBlocks(0, 6, 3), 48, []string{"boft_block_num 6", "2^(boft_n_butterfly_factor − 1) = 4"}},
		{"factor too large for block size", withBlocks(4, 0, 5), 32, []string{"boft_n_butterfly_factor 5", "boft_block_size 4", "in_features 32", "= 64"}},
		{"odd block size", withBlocks(0, 4, 2), 12, []string{"even block size", "4 blocks of 3"}},
		{"odd block size, one factor", withBlocks(0, 4, 1), 12, nil},
	} {
		err := newOne(tc.cfg, tc.in)
		if tc.wants == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		wantErr(t, tc.name, err, tc.wants...)
	}
}

// TestLoadLayerChecks: stored shapes are checked against the layer and
// the config; the factor count comes from boft_R, with a warning where the
// config disagrees (PEFT without its CUDA extension).
func TestLoadLayerChecks(t *testing.T) {
	load := func(c *Config, in, out int, rShape, sShape []int) (peft.Layer, error) {
		base := &nn.Linear{Name: "model.layers.0.mlp.up_proj", In: in, Out: out}
		return c.LoadLayer(&model.LinearSlot{Name: base.Name, Base: base}, map[string]*tensor.Tensor{
			"boft_R": tensor.New(rShape...), "boft_s": tensor.New(sShape...)})
	}
	for _, tc := range []struct {
		name           string
		cfg            *Config
		r, s           []int
		wants          []string
		wantFactors    int
		wantWarnFactor bool
	}{
		{"matches", withBlocks(8, 0, 2), []int{2, 4, 8, 8}, []int{6, 1}, nil, 2, false},
		{"one factor stored, config says 2 (PEFT on CPU)", withBlocks(8, 0, 2), []int{1, 4, 8, 8}, []int{6, 1}, nil, 1, true},
		{"three factors stored, config says 1", withBlocks(4, 0, 1), []int{3, 8, 4, 4}, []int{6, 1}, nil, 3, true},
		{"not 4-D", withBlocks(8, 0, 1), []int{4, 8, 8}, []int{6, 1}, []string{"layer model.layers.0.mlp.up_proj", "boft_R has shape [4 8 8]"}, 0, false},
		{"does not cover the layer", withBlocks(8, 0, 1), []int{1, 3, 8, 8}, []int{6, 1}, []string{"3 blocks of 8 cover 24", "has 32"}, 0, false},
		{"wrong scale", withBlocks(8, 0, 1), []int{1, 4, 8, 8}, []int{5, 1}, []string{"boft_s has shape [5 1]", "want [6 1]"}, 0, false},
		{"config contradicts", withBlocks(4, 0, 1), []int{1, 4, 8, 8}, []int{6, 1}, []string{"4 blocks of 8", "boft_block_size 4", "8 blocks of 4", "does not match"}, 0, false},
		{"block num contradicts", withBlocks(0, 8, 1), []int{1, 4, 8, 8}, []int{6, 1}, []string{"boft_block_num 8"}, 0, false},
		{"too many factors stored", withBlocks(8, 0, 1), []int{4, 4, 8, 8}, []int{6, 1}, []string{"boft_R has shape [4 4 8 8] (4 butterfly factors)", "boft_n_butterfly_factor 4"}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			prev := slog.Default()
			slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
			l, err := load(tc.cfg, 32, 6, tc.r, tc.s)
			slog.SetDefault(prev)
			if tc.wants != nil {
				wantErr(t, tc.name, err, tc.wants...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := l.(*Layer).Factors; got != tc.wantFactors {
				t.Errorf("%d factors, want %d", got, tc.wantFactors)
			}
			warned := strings.Contains(logs.String(), "boft_n_butterfly_factor")
			if warned != tc.wantWarnFactor {
				t.Errorf("warning logged %v, want %v: %q", warned, tc.wantWarnFactor, logs.String())
			}
		})
	}
}

func llama(t *testing.T) model.CausalLM {
	t.Helper()
	base, err := model.Load(filepath.Join(testref.Dir(), "model", "llama"))
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// TestSaveLoadRoundTrip: a trained-looking (random) adapter with two
// factors on every linear layer, saved and loaded through peft.Model,
// comes back with the same config, field for field, bit-identical tensors
// and the same output.
func TestSaveLoadRoundTrip(t *testing.T) {
	cfg := NewConfig(peft.Pattern("all-linear"))
	cfg.BlockSize, cfg.Factors, cfg.InitWeights, cfg.Dropout = 8, 2, false, 0.25
	pm := peft.Wrap(llama(t))
	a, err := pm.Add("default", cfg, tensor.NewRNG(3))
	if err != nil {
		t.Fatal(err)
	}
	ids := [][]int{{1, 5, 9, 2, 7, 3}}
	want, err := pm.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	want = want.Clone()
	dir := t.TempDir()
	if err := pm.Save("default", dir); err != nil {
		t.Fatal(err)
	}
	pm2 := peft.Wrap(llama(t))
	b, err := pm2.Load("default", dir)
	if err != nil {
		t.Fatal(err)
	}
	got := b.Config.(*Config)
	if got.BlockSize != cfg.BlockSize || got.BlockNum != cfg.BlockNum || got.Factors != cfg.Factors ||
		got.Dropout != cfg.Dropout || got.InitWeights != cfg.InitWeights {
		t.Errorf("BOFT fields read back %+v, written %+v", *got, *cfg)
	}
	encGot, err := peft.EncodeConfig(got)
	if err != nil {
		t.Fatal(err)
	}
	encWant, err := peft.EncodeConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encGot, encWant) {
		t.Errorf("config read back\n%s\nwritten\n%s", encGot, encWant)
	}
	pa, pb := a.Params(), b.Params()
	if len(pa) != len(pb) || len(pa) == 0 {
		t.Fatalf("%d tensors written, %d read", len(pa), len(pb))
	}
	for i := range pa {
		if pa[i].Key != pb[i].Key || !reflect.DeepEqual(pa[i].Param.W.Shape, pb[i].Param.W.Shape) {
			t.Fatalf("tensor %d: %s %v, read %s %v", i, pa[i].Key, pa[i].Param.W.Shape, pb[i].Key, pb[i].Param.W.Shape)
		}
		for j, v := range pa[i].Param.W.Data {
			if pb[i].Param.W.Data[j] != v {
				t.Fatalf("%s[%d]: %g, read %g", pa[i].Key, j, v, pb[i].Param.W.Data[j])
			}
		}
	}
	out, err := pm2.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	if d := tensor.MaxAbsDiff(out.Data, want.Data); d != 0 {
		t.Errorf("loaded adapter's logits differ by %g", d)
	}
	data, err := os.ReadFile(filepath.Join(dir, peft.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"boft_block_size", "boft_block_num", "boft_n_butterfly_factor", "boft_dropout", "init_weights", "fan_in_fan_out", "bias", "target_modules", "exclude_modules", "layers_to_transform", "layers_pattern", "modules_to_save", "inference_mode", "peft_type", "task_type"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("adapter_config.json lacks %q", k)
		}
	}
}

// TestLoadRefusesConfigContradictingWeights: the reference BOFT adapter
// (blocks of 8) with adapter_config.json's boft_block_size changed is
// refused, naming the file, the layer and the numbers.
func TestLoadRefusesConfigContradictingWeights(t *testing.T) {
	src := filepath.Join("..", "..", "testdata", "peft-ref-ortho", "model", "llama", "boft")
	dir := t.TempDir()
	for _, name := range []string{peft.ConfigFile, peft.WeightsFile} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == peft.ConfigFile {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			m["boft_block_size"] = 16
			if b, err = json.Marshal(m); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := peft.Wrap(llama(t)).Load("default", src); err != nil {
		t.Fatalf("the reference adapter: %v", err)
	}
	_, err := peft.Wrap(llama(t)).Load("default", dir)
	wantErr(t, "Load", err, "adapter_model.safetensors", "layer model.layers.0.self_attn.q_proj", "boft_block_size 16", "8 blocks of 8")
}
