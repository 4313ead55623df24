package hra_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/hra"
	_ "github.com/orthotune/orthotune/peft/lora"
	_ "github.com/orthotune/orthotune/peft/oft"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// TestRegistered: HRA registers by name and peft_type; its settings carry
// PEFT's names and hra- flags that no other method uses.
func TestRegistered(t *testing.T) {
	m, ok := peft.LookupMethod("hra")
	if !ok || m.PeftType != "HRA" || m.Summary == "" {
		t.Fatalf("hra: %v %+v", ok, m)
	}
	var flags, keys []string
	for _, s := range peft.Settings(m.TrainingConfig()) {
		flags, keys = append(flags, s.Flag), append(keys, s.Key)
		if !strings.HasPrefix(s.Flag, "hra-") || s.Help == "" {
			t.Errorf("setting %s: flag without the hra- prefix or without help", s.Flag)
		}
	}
	if got := strings.Join(flags, " "); got != "hra-r hra-apply-gs hra-init-weights" {
		t.Errorf("flags %s", got)
	}
	if got := strings.Join(keys, " "); got != "r apply_GS init_weights" {
		t.Errorf("keys %s", got)
	}
	taken := map[string]string{}
	for _, other := range peft.Methods() {
		for _, s := range peft.Settings(other.TrainingConfig()) {
			for _, n := range append([]string{s.Flag, s.Negate}, s.Aliases...) {
				if n == "" {
					continue
				}
				if prev, dup := taken[n]; dup {
					t.Errorf("flag --%s used by %s and %s", n, prev, other.Name)
				}
				taken[n] = other.Name
			}
		}
	}
	c := m.NewConfig(peft.Names("q_proj")).(*hra.Config)
	if c.R != 8 || c.ApplyGS || !c.InitWeights || c.Bias != "none" || c.PeftType != "HRA" {
		t.Errorf("defaults %+v", c)
	}
	if got, ok := peft.MethodOf(c); !ok || got.Name != "hra" {
		t.Errorf("MethodOf: %v %v", got.Name, ok)
	}
}

// TestParsePEFTConfig: every field of PEFT's adapter_config.json is read
// and written back unchanged (no fan_in_fan_out added: HRAConfig has
// none); unknown fields are kept with a warning.
func TestParsePEFTConfig(t *testing.T) {
	for _, dir := range []string{"model/llama/hra", "model/llama/hra_gs", "model/gpt2/hra_conv1d"} {
		p := filepath.Join(orthoDir(), filepath.FromSlash(dir), peft.ConfigFile)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cfg, warnings, err := peft.ParseConfig(p, data)
		if err != nil {
			t.Fatal(err)
		}
		if len(warnings) != 0 {
			t.Errorf("%s: warnings %v", dir, warnings)
		}
		out, err := peft.EncodeConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var want, got map[string]any
		_ = json.Unmarshal(data, &want)
		_ = json.Unmarshal(out, &got)
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s: written back as\n%s\nwant\n%s", dir, out, data)
		}
	}
	data := `{"peft_type": "HRA", "r": 4, "apply_GS": true, "target_modules": ["q_proj"], "a_future_field": [1, 2], "fan_in_fan_out": false}`
	cfg, warnings, err := hra.Parse("adapter_config.json", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.(*hra.Config); c.R != 4 || !c.ApplyGS || !c.InitWeights {
		t.Errorf("parsed %+v", c)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "a_future_field") {
		t.Errorf("warnings %v", warnings)
	}
	out, _ := peft.EncodeConfig(cfg)
	if !strings.Contains(string(out), `"a_future_field": [`) || !strings.Contains(string(out), `"fan_in_fan_out": false`) {
		t.Errorf("fields not kept:\n%s", out)
	}
}

// TestFreshConfigHasEveryField: a new adapter's adapter_config.json has
// exactly the fields PEFT's HRAConfig writes.
func TestFreshConfigHasEveryField(t *testing.T) {
	out, err := peft.EncodeConfig(hra.NewConfig(peft.Names("q_proj")))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := os.ReadFile(filepath.Join(orthoDir(), "model", "llama", "hra", peft.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	_ = json.Unmarshal(out, &got)
	_ = json.Unmarshal(ref, &want)
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("field %q missing", k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("field %q is not PEFT's", k)
		}
	}
}

// TestConfigErrors: bad values are refused naming the field.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{`{"peft_type": "HRA", "r": 0, "target_modules": ["q_proj"]}`, "r must be"},
		{`{"peft_type": "HRA", "r": -3, "target_modules": ["q_proj"]}`, "got -3"},
		{`{"peft_type": "HRA", "r": "8", "target_modules": ["q_proj"]}`, `"r"`},
		{`{"peft_type": "HRA", "bias": "oft_only", "target_modules": ["q_proj"]}`, "bias"},
		{`{"peft_type": "HRA", "target_modules": null}`, "target_modules"},
		{`{"peft_type": "HRA", "target_modules": ".*q_proj", "layers_to_transform": [0]}`, "layers_to_transform"},
		{`{"peft_type": "HRA", "target_modules": ["q_proj"], "layers_pattern": ["layers"]}`, "layers_pattern"},
	} {
		_, _, err := hra.Parse("adapter_config.json", []byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "adapter_config.json") {
			t.Errorf("%s: error %v, want one naming %s", tc.data, err, tc.want)
		}
	}
}

func loadBase(t *testing.T, arch string) *peft.Model {
	t.Helper()
	m, err := model.Load(filepath.Join(testref.Dir(), "model", arch))
	if err != nil {
		t.Fatal(err)
	}
	return peft.Wrap(m)
}

// TestSaveLoadRoundTrip: an adapter written through peft.Model.Save and
// read back with Load has an equal config, field for field, bit-identical
// tensors and the same logits.
func TestSaveLoadRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		arch string
		cfg  func() *hra.Config
	}{
		{"llama", func() *hra.Config {
			c := hra.NewConfig(peft.Pattern("all-linear"))
			c.R, c.InitWeights = 5, false
			return c
		}},
		{"llama", func() *hra.Config {
			c := hra.NewConfig(peft.Names("q_proj", "down_proj"))
			c.R, c.ApplyGS, c.Bias = 4, true, "hra_only"
			return c
		}},
		{"gpt2", func() *hra.Config {
			c := hra.NewConfig(peft.Names("c_attn", "c_fc"))
			c.R, c.InitWeights = 6, false
			return c
		}},
	} {
		pm := loadBase(t, tc.arch)
		cfg := tc.cfg()
		a, err := pm.Add("default", cfg, tensor.NewRNG(3))
		if err != nil {
			t.Fatal(err)
		}
		ids := [][]int{{1, 5, 9, 2, 7, 3}}
		logits, err := pm.Forward(ids)
		if err != nil {
			t.Fatal(err)
		}
		logits = logits.Clone()
		dir := filepath.Join(t.TempDir(), "adapter")
		if err := pm.Save("default", dir); err != nil {
			t.Fatal(err)
		}
		again := loadBase(t, tc.arch)
		b, err := again.Load("default", dir)
		if err != nil {
			t.Fatal(err)
		}
		ca, cb := a.Config.(*hra.Config), b.Config.(*hra.Config)
		if ca.R != cb.R || ca.ApplyGS != cb.ApplyGS || ca.InitWeights != cb.InitWeights || ca.Bias != cb.Bias ||
			!reflect.DeepEqual(ca.Targets, cb.Targets) || ca.PeftType != cb.PeftType || *ca.TaskType != *cb.TaskType ||
			ca.InferenceMode != cb.InferenceMode || ca.PeftVersion != cb.PeftVersion || string(ca.FanInFanOut) != string(cb.FanInFanOut) {
			t.Errorf("%s: config changed: %+v vs %+v", tc.arch, ca, cb)
		}
		ea, _ := peft.EncodeConfig(ca)
		eb, _ := peft.EncodeConfig(cb)
		if string(ea) != string(eb) || strings.Contains(string(ea), "fan_in_fan_out") {
			t.Errorf("%s: written configs differ (or carry fan_in_fan_out):\n%s\nvs\n%s", tc.arch, ea, eb)
		}
		pa, pb := a.Params(), b.Params()
		if len(pa) != len(pb) || len(pa) == 0 {
			t.Fatalf("%s: %d tensors saved, %d loaded", tc.arch, len(pa), len(pb))
		}
		for i := range pa {
			if pa[i].Key != pb[i].Key || !reflect.DeepEqual(pa[i].Param.W.Shape, pb[i].Param.W.Shape) {
				t.Fatalf("%s: tensor %s vs %s", tc.arch, pa[i].Key, pb[i].Key)
			}
			for j, v := range pa[i].Param.W.Data {
				if v != pb[i].Param.W.Data[j] {
					t.Fatalf("%s: %s[%d] %g after the round trip, was %g", tc.arch, pa[i].Key, j, pb[i].Param.W.Data[j], v)
				}
			}
		}
		got, err := again.Forward(ids)
		if err != nil {
			t.Fatal(err)
		}
		if d := tensor.MaxAbsDiff(got.Data, logits.Data); d != 0 {
			t.Errorf("%s: reloaded adapter's logits differ by %g", tc.arch, d)
		}
	}
}

// TestLoadErrorsNameFileLayerTensor: an hra_u of the wrong shape in an
// adapter file is refused naming the file, the layer, the tensor and the
// shapes.
func TestLoadErrorsNameFileLayerTensor(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(orthoDir(), "model", "llama", "hra")
	data, err := os.ReadFile(filepath.Join(src, peft.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, peft.ConfigFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(filepath.Join(src, peft.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	var entries []safetensors.Entry
	bad := "base_model.model.model.layers.1.self_attn.v_proj.hra_u"
	for _, n := range f.Names() {
		x, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		if n == bad {
			x = tensor.New(32, 8)
		}
		entries = append(entries, safetensors.Entry{Name: n, DType: safetensors.F32, Shape: x.Shape, Float: x.Data})
	}
	f.Close()
	wPath := filepath.Join(dir, peft.WeightsFile)
	if err := safetensors.Write(wPath, entries, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	_, err = loadBase(t, "llama").Load("default", dir)
	if err == nil {
		t.Fatal("accepted an hra_u of the wrong shape")
	}
	for _, w := range []string{wPath, "model.layers.1.self_attn.v_proj", "hra_u", "[32 8]", "64 input features"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}
