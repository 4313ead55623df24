package peft_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/orth"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/lora"
	"github.com/orthotune/orthotune/peft/oft"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

func refAdapter(arch, name string) string { return filepath.Join(testref.Dir(), "model", arch, name) }

func jsonFields(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestConfigRoundTrip: PEFT's own adapter_config.json files read and
// written back by orthotune keep every field and value.
func TestConfigRoundTrip(t *testing.T) {
	for _, dir := range []string{refAdapter("llama", "oft"), refAdapter("llama", "oft_cayley"), refAdapter("llama", "lora"), refAdapter("gpt2", "lora")} {
		t.Run(filepath.Base(filepath.Dir(dir))+"/"+filepath.Base(dir), func(t *testing.T) {
			path := filepath.Join(dir, peft.ConfigFile)
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg, warnings, err := peft.ParseConfig(path, orig)
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) != 0 {
				t.Errorf("PEFT's own config raised warnings: %v", warnings)
			}
			out, err := peft.EncodeConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			want, got := jsonFields(t, orig), jsonFields(t, out)
			for k, v := range want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("field %q: wrote %#v, PEFT had %#v", k, got[k], v)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("wrote field %q that PEFT's file lacks", k)
				}
			}
		})
	}
}

// TestFreshConfigsHaveEveryField: a config orthotune creates writes every
// field PEFT's own files have.
func TestFreshConfigsHaveEveryField(t *testing.T) {
	for _, tc := range []struct {
		cfg peft.Config
		ref string
	}{{oft.NewConfig(peft.Names("q_proj")), refAdapter("llama", "oft")}, {lora.NewConfig(peft.Names("q_proj")), refAdapter("llama", "lora")}} {
		out, err := peft.EncodeConfig(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := os.ReadFile(filepath.Join(tc.ref, peft.ConfigFile))
		got := jsonFields(t, out)
		for k := range jsonFields(t, ref) {
			if _, ok := got[k]; !ok {
				t.Errorf("%s config lacks field %q", tc.cfg.Base().PeftType, k)
			}
		}
		if got["peft_version"] != peft.MinWriteVersion || got["task_type"] != "CAUSAL_LM" {
			t.Errorf("peft_version %v, task_type %v", got["peft_version"], got["task_type"])
		}
		if !strings.Contains(string(out), "\n  \"") {
			t.Error("config is not indented by two spaces")
		}
	}
}

func tinyModel(t *testing.T, spec testmodel.Spec) *peft.Model {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	if _, err := testmodel.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return peft.Wrap(m)
}

// TestSaveLoadRoundTrip: an adapter written by orthotune and read back has
// identical tensors, an equal config, and computes the same logits.
func TestSaveLoadRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func() peft.Config
		arch string
	}{
		{"oft llama", func() peft.Config {
			c := oft.NewConfig(peft.Pattern("all-linear"))
			c.BlockSize, c.InitWeights, c.COFT, c.Eps = 8, false, true, 1e-3
			return c
		}, "llama"},
		{"oft gpt2 block share exact", func() peft.Config {
			c := oft.NewConfig(peft.Names("c_attn", "c_fc"))
			c.BlockSize, c.InitWeights, c.BlockShare, c.UseCayleyNeumann = 4, false, true, false
			return c
		}, "gpt2"},
		{"lora qwen2 bias all", func() peft.Config {
			c := lora.NewConfig(peft.Names("q_proj", "down_proj"))
			c.InitLoraWeights = lora.InitMode{IsBool: true, Bool: false}
			c.Bias = "all"
			c.RankPattern = lora.OrderedFloat{Entries: []lora.FloatEntry{{Key: "down_proj", Value: 2}}}
			return c
		}, "qwen2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pm := tinyModel(t, testmodel.Spec{ModelType: tc.arch})
			a, err := pm.Add("default", tc.cfg(), tensor.NewRNG(7))
			if err != nil {
				t.Fatal(err)
			}
			ids := [][]int{{1, 5, 9, 2, 7}}
			logits, err := pm.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "adapter")
			if err := pm.Save("default", dir); err != nil {
				t.Fatal(err)
			}
			f, err := safetensors.Open(filepath.Join(dir, peft.WeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			if f.Metadata()["format"] != "pt" {
				t.Errorf("metadata %v", f.Metadata())
			}
			for _, p := range a.Params() {
				info, ok := f.Info(p.Key)
				if !ok || info.DType != safetensors.F32 {
					t.Errorf("%s: stored %v %v", p.Key, ok, info.DType)
				}
			}
			f.Close()

			again := peft.Wrap(pm.CausalLM)
			b, err := again.Load("reloaded", dir)
			if err != nil {
				t.Fatal(err)
			}
			pa, pb := a.Params(), b.Params()
			if len(pa) != len(pb) {
				t.Fatalf("%d tensors saved, %d loaded", len(pa), len(pb))
			}
			for i := range pa {
				if pa[i].Key != pb[i].Key || tensor.MaxAbsDiff(pa[i].Param.W.Data, pb[i].Param.W.Data) != 0 {
					t.Errorf("tensor %s differs after the round trip", pa[i].Key)
				}
			}
			ca, _ := peft.EncodeConfig(a.Config)
			cb, _ := peft.EncodeConfig(b.Config)
			if string(ca) != string(cb) {
				t.Errorf("config changed in the round trip:\n%s\nvs\n%s", ca, cb)
			}
			got, err := again.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			if d := tensor.MaxAbsDiff(got.Data, logits.Data); d != 0 {
				t.Errorf("reloaded adapter's logits differ by %g", d)
			}
		})
	}
}

// TestSeveralAdapters: two adapters on one model, switched by name, merged
// and unmerged, and disabled to give the base model back exactly.
func TestSeveralAdapters(t *testing.T) {
	base, err := model.Load(filepath.Join(testref.Dir(), "model", "llama"))
	if err != nil {
		t.Fatal(err)
	}
	before := map[string][]float32{}
	for _, p := range base.Params() {
		before[p.Name] = append([]float32(nil), p.W.Data...)
	}
	pm := peft.Wrap(base)
	ids := [][]int{{3, 1, 4, 1, 5, 9, 2, 6}}
	plain, _ := pm.Forward(ids)
	for _, n := range []string{"oft", "lora"} {
		if _, err := pm.Load(n, refAdapter("llama", n)); err != nil {
			t.Fatal(err)
		}
	}
	logits := map[string]*tensor.Tensor{}
	for _, n := range []string{"oft", "lora"} {
		if err := pm.SetActive(n); err != nil {
			t.Fatal(err)
		}
		l, _ := pm.Forward(ids)
		logits[n] = l
		if err := pm.Merge(); err != nil {
			t.Fatal(err)
		}
		m, _ := pm.Forward(ids)
		if d := tensor.MaxAbsDiff(m.Data, l.Data); d > 1e-5 {
			t.Errorf("%s: merged logits differ by %g", n, d)
		}
	}
	if tensor.MaxAbsDiff(logits["oft"].Data, logits["lora"].Data) == 0 || tensor.MaxAbsDiff(logits["oft"].Data, plain.Data) == 0 {
		t.Error("adapters do not change the logits")
	}
	if err := pm.SetActive("oft"); err != nil { // unmerges lora first
		t.Fatal(err)
	}
	if l, _ := pm.Forward(ids); tensor.MaxAbsDiff(l.Data, logits["oft"].Data) > 1e-5 {
		t.Error("switching back to oft after merging lora changed oft's logits")
	}
	if err := pm.DisableAdapters(); err != nil {
		t.Fatal(err)
	}
	l, _ := pm.Forward(ids)
	if d := tensor.MaxAbsDiff(l.Data, plain.Data); d > 1e-5 {
		t.Errorf("disabled adapters: logits differ from the base model by %g", d)
	}
	for _, p := range base.Params() {
		if d := tensor.MaxAbsDiff(p.W.Data, before[p.Name]); d > 1e-6 {
			t.Errorf("%s: %g away from the base weight after merge/unmerge", p.Name, d)
		}
	}
	if err := pm.SetActive("nope"); err == nil || !strings.Contains(err.Error(), "oft, lora") {
		t.Errorf("unknown adapter: %v", err)
	}
	if _, err := pm.Load("oft", refAdapter("llama", "oft")); err == nil {
		t.Error("a second adapter named oft was accepted")
	}
}

// copyAdapter copies a reference adapter directory for editing.
func copyAdapter(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{peft.ConfigFile, peft.WeightsFile} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func editConfig(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, peft.ConfigFile)
	data, _ := os.ReadFile(path)
	m := jsonFields(t, data)
	edit(m)
	out, _ := json.Marshal(m)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func rewriteWeights(t *testing.T, dir string, edit func(map[string]*tensor.Tensor)) {
	t.Helper()
	path := filepath.Join(dir, peft.WeightsFile)
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ts := map[string]*tensor.Tensor{}
	for _, n := range f.Names() {
		ts[n], _ = f.Float32(n)
	}
	f.Close()
	edit(ts)
	var entries []safetensors.Entry
	for n, v := range ts {
		entries = append(entries, safetensors.Entry{Name: n, DType: safetensors.F32, Shape: v.Shape, Float: v.Data})
	}
	if err := safetensors.Write(path, entries, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
}

// TestLoadErrors: each kind of bad adapter is refused with a message that
// names the file and the field or layer.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		src   string
		model testmodel.Spec // zero: the reference llama
		edit  func(t *testing.T, dir string)
		want  []string
	}{
		{name: "adapter for a different model", src: refAdapter("llama", "oft"), model: testmodel.Spec{ModelType: "llama", Hidden: 32, Heads: 2},
			want: []string{peft.WeightsFile, "model.layers.0.self_attn.q_proj", "oft_R.weight", "[4 120]", "the layer has 32"}},
		{name: "lora for a different model", src: refAdapter("llama", "lora"), model: testmodel.Spec{ModelType: "llama", Hidden: 32, Heads: 2},
			want: []string{peft.WeightsFile, "model.layers.0.self_attn.q_proj", "lora_A.weight"}},
		{name: "unknown peft_type", src: refAdapter("llama", "lora"),
			edit: func(t *testing.T, d string) { editConfig(t, d, func(m map[string]any) { m["peft_type"] = "IA3" }) },
			want: []string{peft.ConfigFile, `peft_type "IA3"`, "LORA, OFT"}},
		{name: "OFT config without oft_block_size", src: refAdapter("llama", "oft"),
			edit: func(t *testing.T, d string) { editConfig(t, d, func(m map[string]any) { delete(m, "oft_block_size") }) },
			want: []string{peft.ConfigFile, "oft_block_size"}},
		{name: "r and oft_block_size both set", src: refAdapter("llama", "oft"),
			edit: func(t *testing.T, d string) { editConfig(t, d, func(m map[string]any) { m["r"] = 4 }) },
			want: []string{peft.ConfigFile, "exactly one of r"}},
		{name: "targets match no layer", src: refAdapter("llama", "lora"),
			edit: func(t *testing.T, d string) {
				editConfig(t, d, func(m map[string]any) { m["target_modules"] = []string{"c_attn"} })
			},
			want: []string{peft.ConfigFile, `"c_attn"`, "match no linear layer", "q_proj"}},
		{name: "tensor missing from the adapter", src: refAdapter("llama", "oft"),
			edit: func(t *testing.T, d string) {
				rewriteWeights(t, d, func(m map[string]*tensor.Tensor) {
					delete(m, "base_model.model.model.layers.1.self_attn.v_proj.oft_R.weight")
				})
			},
			want: []string{peft.WeightsFile, `"base_model.model.model.layers.1.self_attn.v_proj.oft_R.weight" is missing`}},
		{name: "tensor for no layer", src: refAdapter("llama", "lora"),
			edit: func(t *testing.T, d string) {
				rewriteWeights(t, d, func(m map[string]*tensor.Tensor) {
					m["base_model.model.model.layers.0.mlp.up_proj.lora_A.weight"] = tensor.New(8, 64)
				})
			},
			want: []string{peft.WeightsFile, "up_proj.lora_A.weight", "no targeted layer"}},
		{name: "PEFT 0.14 OFT format", src: refAdapter("llama", "oft"),
			edit: func(t *testing.T, d string) {
				rewriteWeights(t, d, func(m map[string]*tensor.Tensor) {
					for k := range m {
						delete(m, k)
						m[strings.TrimSuffix(k, ".oft_R.weight")+".oft_r"] = tensor.New(4, 16, 16)
					}
				})
			},
			want: []string{peft.WeightsFile, "PEFT 0.14–0.15", "oft_s"}},
		{name: "DoRA", src: refAdapter("llama", "lora"),
			edit: func(t *testing.T, d string) { editConfig(t, d, func(m map[string]any) { m["use_dora"] = true }) },
			want: []string{peft.ConfigFile, "use_dora"}},
		{name: "target_modules of the wrong type", src: refAdapter("llama", "lora"),
			edit: func(t *testing.T, d string) { editConfig(t, d, func(m map[string]any) { m["target_modules"] = 5 }) },
			want: []string{peft.ConfigFile, "target_modules"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyAdapter(t, tc.src)
			if tc.edit != nil {
				tc.edit(t, dir)
			}
			var pm *peft.Model
			if tc.model.ModelType != "" {
				pm = tinyModel(t, tc.model)
			} else {
				m, err := model.Load(filepath.Join(testref.Dir(), "model", "llama"))
				if err != nil {
					t.Fatal(err)
				}
				pm = peft.Wrap(m)
			}
			_, err := pm.Load("default", dir)
			if err == nil {
				t.Fatal("loaded without error")
			}
			t.Logf("error: %v", err)
			// Judge the message without the temporary directory, whose name
			// repeats the test's name.
			msg := strings.ReplaceAll(err.Error(), filepath.Dir(dir), "DIR")
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not mention %q", w)
				}
			}
			if len(pm.Adapters()) != 0 {
				t.Errorf("a failed load left adapters %v attached", pm.Adapters())
			}
		})
	}
}

// TestLegacyNeumannSeries: an OFT config without peft_version (PEFT
// 0.16–0.17) is computed with the series it was trained with.
func TestLegacyNeumannSeries(t *testing.T) {
	for _, tc := range []struct {
		version any
		want    orth.Kind
		warned  bool
	}{{nil, orth.NeumannLegacy, true}, {"0.17.1", orth.NeumannLegacy, true}, {"0.18.0", orth.Neumann, false}, {"0.20.1.dev0@abc", orth.Neumann, false}} {
		dir := copyAdapter(t, refAdapter("llama", "oft"))
		editConfig(t, dir, func(m map[string]any) {
			if tc.version == nil {
				delete(m, "peft_version")
			} else {
				m["peft_version"] = tc.version
			}
		})
		cfg, warnings, err := peft.ReadConfig(filepath.Join(dir, peft.ConfigFile))
		if err != nil {
			t.Fatal(err)
		}
		c := cfg.(*oft.Config)
		if c.Cayley().Kind != tc.want || (len(warnings) > 0) != tc.warned {
			t.Errorf("peft_version %v: series %v, warnings %v", tc.version, c.Cayley(), warnings)
		}
		if tc.warned && !strings.Contains(warnings[0], "0.16–0.17") {
			t.Errorf("warning %q does not say which series", warnings[0])
		}
	}
}

// TestLegacyVersionKept: re-saving a legacy-series OFT adapter keeps it
// readable as pre-0.18 (its meaning), while current adapters are raised to
// at least 0.18.0.
func TestLegacyVersionKept(t *testing.T) {
	for _, tc := range []struct {
		in   any // peft_version in the file; nil = absent
		want any // peft_version written; nil = absent
	}{{nil, nil}, {"0.17.1", "0.17.1"}, {"0.20.1.dev0@abc", "0.20.1.dev0@abc"}} {
		dir := copyAdapter(t, refAdapter("llama", "oft"))
		editConfig(t, dir, func(m map[string]any) {
			if tc.in == nil {
				delete(m, "peft_version")
			} else {
				m["peft_version"] = tc.in
			}
		})
		cfg, _, err := peft.ReadConfig(filepath.Join(dir, peft.ConfigFile))
		if err != nil {
			t.Fatal(err)
		}
		out, err := peft.EncodeConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonFields(t, out)["peft_version"]; got != tc.want {
			t.Errorf("peft_version %v written as %v, want %v", tc.in, got, tc.want)
		}
		again, _, err := peft.ParseConfig("again", out)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := cfg.(*oft.Config).Cayley(), again.(*oft.Config).Cayley(); a != b {
			t.Errorf("peft_version %v: series %v became %v after a round trip", tc.in, a, b)
		}
	}
	forced := oft.NewConfig(peft.Names("q_proj"))
	forced.ForceSeries(orth.NeumannLegacy)
	out, _ := peft.EncodeConfig(forced)
	if _, has := jsonFields(t, out)["peft_version"]; has {
		t.Error("a config forced to the legacy series was written with a current peft_version")
	}
}
