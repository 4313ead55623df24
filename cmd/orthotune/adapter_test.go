package main

import (
	"encoding/json"
	"fmt"
	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/internal/peftcheck"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

var (
	refArchs    = []string{"llama", "gpt2"}
	refAdapters = []string{"oft", "oft_cayley", "lora"}
)

// mustRun runs a command line that must succeed and returns its stdout.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := orthotune(args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, stderr)
	}
	return stdout
}

func openST(t *testing.T, path string) *safetensors.File {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readTensor(t *testing.T, f *safetensors.File, name string) *tensor.Tensor {
	t.Helper()
	x, err := f.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// closeTo fails unless got and want have one shape and differ by at most atol.
func closeTo(t *testing.T, what string, got, want *tensor.Tensor, atol float64) {
	t.Helper()
	peftcheck.Compare(t, what, got, want, atol)
}

// checkLogitsLoss compares a forward output file with a reference.
func checkLogitsLoss(t *testing.T, what, out string, ref *safetensors.File, loss float64, tol map[string]testref.Tolerance) {
	t.Helper()
	got := openST(t, out)
	closeTo(t, what+" logits", readTensor(t, got, "logits"), readTensor(t, ref, "logits"), tol["logits"].Atol)
	l := readTensor(t, got, "loss")
	if len(l.Shape) != 1 || l.Shape[0] != 1 || math.Abs(float64(l.Data[0])-loss) > tol["loss"].Atol {
		t.Errorf("%s loss %v %v, want [1] %.7f", what, l.Shape, l.Data, loss)
	}
}

// TestAdapterCommandsReproduceReference: forward through each reference
// adapter (as is and merged), its gradients, and the merged model
// directory all agree with PEFT's reference tensors.
func TestAdapterCommandsReproduceReference(t *testing.T) {
	cases, err := testref.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range refArchs {
		for _, name := range refAdapters {
			t.Run(arch+"/"+name, func(t *testing.T) {
				c, err := cases.Adapter(arch, name)
				if err != nil {
					t.Fatal(err)
				}
				modelDir := filepath.Join(testref.Dir(), cases.Model[arch].Dir)
				adapterDir := filepath.Join(testref.Dir(), c.AdapterDir)
				input := repoPath("testdata", "examples", arch+"_input_ids.json")
				ref, err := testref.Tensors(c.Ref)
				if err != nil {
					t.Fatal(err)
				}
				defer ref.Close()
				tmp := t.TempDir()

				// forward --adapter, and --merged.
				out := filepath.Join(tmp, "adapter.safetensors")
				stdout := mustRun(t, "forward", "--model", modelDir, "--adapter", adapterDir, "--input", input, "--out", out)
				if !strings.Contains(stdout, c.PeftType+" adapter") {
					t.Errorf("stdout %q does not say which adapter ran", stdout)
				}
				checkLogitsLoss(t, "adapter", out, ref, c.Loss, c.Tolerances)
				out = filepath.Join(tmp, "merged.safetensors")
				mustRun(t, "forward", "--model", modelDir, "--adapter", adapterDir, "--merged", "--input", input, "--out", out)
				checkLogitsLoss(t, "merged", out, ref, c.Loss, c.Tolerances)

				// grad: the reference's key set, each within tolerance, F32.
				out = filepath.Join(tmp, "grads.safetensors")
				stdout = mustRun(t, "grad", "--model", modelDir, "--adapter", adapterDir, "--input", input, "--out", out)
				if want := fmt.Sprintf("loss %.6f", c.Loss); !strings.Contains(stdout, want[:len(want)-1]) {
					t.Errorf("grad stdout %q does not report the loss %.6f", stdout, c.Loss)
				}
				grads := openST(t, out)
				wantGrads, err := testref.Tensors(c.Grads)
				if err != nil {
					t.Fatal(err)
				}
				defer wantGrads.Close()
				if g, w := grads.Names(), wantGrads.Names(); !slices.Equal(g, w) {
					t.Fatalf("gradient keys %v, want %v", g, w)
				}
				for _, key := range grads.Names() {
					if info, _ := grads.Info(key); info.DType != safetensors.F32 {
						t.Errorf("%s stored as %s, want F32", key, info.DType)
					}
					closeTo(t, "grad "+key, readTensor(t, grads, key), readTensor(t, wantGrads, key), c.Tolerances["grads"].Atol)
				}
				if md := grads.Metadata(); md["format"] != "pt" {
					t.Errorf("grads metadata %v, want format=pt", md)
				}

				// merge: a model directory forward loads, with the merged
				// weights and every other tensor untouched.
				mergedDir := filepath.Join(tmp, "merged-model")
				mustRun(t, "merge", "--model", modelDir, "--adapter", adapterDir, "--out", mergedDir)
				assertOnly(t, tmp, "adapter.safetensors", "merged.safetensors", "grads.safetensors", "merged-model")
				out = filepath.Join(tmp, "merged-model.safetensors")
				mustRun(t, "forward", "--model", mergedDir, "--input", input, "--out", out)
				checkLogitsLoss(t, "merged model", out, ref, c.Loss, c.Tolerances)
				got := openST(t, filepath.Join(mergedDir, "model.safetensors"))
				src := openST(t, filepath.Join(modelDir, "model.safetensors"))
				if g, w := got.Names(), src.Names(); !slices.Equal(g, w) {
					t.Fatalf("merged checkpoint holds %v, the source %v", g, w)
				}
				merged := map[string]bool{}
				for _, key := range c.MergedKeys {
					name := strings.TrimPrefix(key, "merged.")
					merged[name] = true
					closeTo(t, key, readTensor(t, got, name), readTensor(t, ref, key), c.Tolerances["logits"].Atol/10)
				}
				for _, name := range src.Names() {
					gi, _ := got.Info(name)
					si, _ := src.Info(name)
					if gi.DType != si.DType {
						t.Errorf("%s stored as %s, the source as %s", name, gi.DType, si.DType)
					}
					if !merged[name] {
						closeTo(t, name+" (not adapted)", readTensor(t, got, name), readTensor(t, src, name), 0)
					}
				}
				cfgGot, _ := os.ReadFile(filepath.Join(mergedDir, "config.json"))
				cfgSrc, _ := os.ReadFile(filepath.Join(modelDir, "config.json"))
				if string(cfgGot) != string(cfgSrc) {
					t.Errorf("config.json was not copied verbatim")
				}
			})
		}
	}
}

// makeAdapter creates an adapter from cfg on the model in modelDir, fills
// every adapter tensor with N(0, 0.2) noise (so it is far from the
// identity), and saves it to dir.
// methodConfig returns a registered method's config with PEFT's defaults
// on targets, the settings given as flag-name/value pairs applied (through
// the registry, as the command line does).
func methodConfig(t *testing.T, method string, targets []string, settings ...string) peft.Config {
	t.Helper()
	m, ok := peft.LookupMethod(method)
	if !ok {
		t.Fatalf("no method %q", method)
	}
	cfg := m.NewConfig(peft.Names(targets...))
	for i := 0; i < len(settings); i += 2 {
		found := false
		for _, s := range peft.Settings(cfg) {
			if s.Flag == settings[i] {
				if err := s.Set(settings[i+1]); err != nil {
					t.Fatal(err)
				}
				found = true
			}
		}
		if !found {
			t.Fatalf("%s has no setting %q", method, settings[i])
		}
	}
	return cfg
}

func makeAdapter(t *testing.T, modelDir, dir string, cfg peft.Config) {
	t.Helper()
	m, err := model.Load(modelDir)
	if err != nil {
		t.Fatal(err)
	}
	pm := peft.Wrap(m)
	rng := tensor.NewRNG(7)
	a, err := pm.Add("default", cfg, rng)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Params() {
		rng.Normal(p.Param.W, 0, 0.2)
	}
	if err := pm.Save("default", dir); err != nil {
		t.Fatal(err)
	}
}

// libraryMerge merges the adapter in-process and returns the model's
// weights by name.
func libraryMerge(t *testing.T, modelDir, adapterDir string) map[string]*nn.Param {
	t.Helper()
	pm, _, err := finetune.LoadAdapted(modelDir, adapterDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := pm.Merge(); err != nil {
		t.Fatal(err)
	}
	out := map[string]*nn.Param{}
	for _, p := range pm.Params() {
		out[p.Name] = p
	}
	return out
}

// rewriteCheckpoint rewrites dir/model.safetensors through edit, which may
// add, drop or change entries.
func rewriteCheckpoint(t *testing.T, path string, edit func([]safetensors.Entry) []safetensors.Entry) {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var entries []safetensors.Entry
	for _, n := range f.Names() {
		info, _ := f.Info(n)
		x, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, safetensors.Entry{Name: n, DType: info.DType, Shape: info.Shape, Float: x.Data})
	}
	md := f.Metadata()
	f.Close()
	if err := safetensors.Write(path, edit(entries), md); err != nil {
		t.Fatal(err)
	}
}

// TestMergePreservesCheckpoint: merge writes every source tensor under its
// own name and dtype (BF16, F16), GPT-2 files without "transformer." keep
// their names and attn.bias buffers, tied heads stay as the source stored
// them, tokenizer files are copied; the merged weights are the library's,
// rounded to the source dtype.
func TestMergePreservesCheckpoint(t *testing.T) {
	oftCfg := func(targets ...string) peft.Config {
		return methodConfig(t, "oft", targets, "oft-block-size", "8")
	}
	for _, tc := range []struct {
		name      string
		spec      testmodel.Spec
		cfg       peft.Config
		tiedCopy  bool // add lm_head.weight = embed_tokens to a tied checkpoint
		tokenizer bool
		sharded   bool // split the checkpoint into two shards with an index
	}{
		{name: "llama BF16 OFT", spec: testmodel.Spec{ModelType: "llama", DType: safetensors.BF16}, cfg: oftCfg("q_proj", "down_proj"), tokenizer: true},
		{name: "llama tied F16 OFT", spec: testmodel.Spec{ModelType: "llama", DType: safetensors.F16, Tied: true}, cfg: oftCfg("v_proj")},
		{name: "llama tied with head copy", spec: testmodel.Spec{ModelType: "llama", Tied: true}, cfg: oftCfg("o_proj"), tiedCopy: true},
		{name: "gpt2 no prefix F16 LoRA", spec: testmodel.Spec{ModelType: "gpt2", DType: safetensors.F16, NoPrefix: true},
			cfg: methodConfig(t, "lora", []string{"c_attn", "c_fc"}, "lora-r", "4", "lora-alpha", "8")},
		{name: "gpt2 BF16 OFT", spec: testmodel.Spec{ModelType: "gpt2", DType: safetensors.BF16}, cfg: oftCfg("c_proj")},
		{name: "sharded llama", spec: testmodel.Spec{ModelType: "llama"}, cfg: oftCfg("q_proj"), sharded: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			modelDir, adapterDir, out := filepath.Join(tmp, "m"), filepath.Join(tmp, "a"), filepath.Join(tmp, "out")
			if _, err := testmodel.Write(modelDir, tc.spec); err != nil {
				t.Fatal(err)
			}
			if tc.tiedCopy {
				rewriteCheckpoint(t, filepath.Join(modelDir, "model.safetensors"), func(es []safetensors.Entry) []safetensors.Entry {
					for _, e := range es {
						if e.Name == "model.embed_tokens.weight" {
							e.Name = "lm_head.weight"
							return append(es, e)
						}
					}
					t.Fatal("no embed_tokens")
					return nil
				})
			}
			if tc.sharded {
				shard(t, modelDir)
			}
			if tc.tokenizer {
				writeFile(t, filepath.Join(modelDir, "tokenizer.json"), `{"model": {}}`)
				writeFile(t, filepath.Join(modelDir, "generation_config.json"), `{"do_sample": false}`)
				writeFile(t, filepath.Join(modelDir, "README.md"), "not copied")
			}
			makeAdapter(t, modelDir, adapterDir, tc.cfg)
			stdout := mustRun(t, "merge", "--model", modelDir, "--adapter", adapterDir, "--out", out)
			t.Log(strings.TrimSpace(stdout))

			entries, _ := os.ReadDir(out)
			var files []string
			for _, e := range entries {
				files = append(files, e.Name())
			}
			want := []string{"config.json", "model.safetensors"}
			if tc.tokenizer {
				want = append(want, "generation_config.json", "tokenizer.json")
			}
			sort.Strings(want)
			if !slices.Equal(files, want) {
				t.Errorf("merged directory holds %v, want %v", files, want)
			}
			if tc.tokenizer {
				if b, _ := os.ReadFile(filepath.Join(out, "tokenizer.json")); string(b) != `{"model": {}}` {
					t.Errorf("tokenizer.json copied as %q", b)
				}
			}

			got := openST(t, filepath.Join(out, "model.safetensors"))
			src, err := safetensors.OpenCheckpoint(modelDir)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if g, w := got.Names(), src.Names(); !slices.Equal(g, w) {
				t.Fatalf("merged checkpoint holds %v, the source %v", g, w)
			}
			lib := libraryMerge(t, modelDir, adapterDir)
			changed := 0
			for _, name := range src.Names() {
				gi, _ := got.Info(name)
				si, _ := src.Info(name)
				if gi.DType != si.DType || !slices.Equal(gi.Shape, si.Shape) {
					t.Errorf("%s: %s %v, the source %s %v", name, gi.DType, gi.Shape, si.DType, si.Shape)
				}
				g := readTensor(t, got, name)
				s, err := src.Float32(name)
				if err != nil {
					t.Fatal(err)
				}
				p := lib[name]
				if p == nil {
					p = lib["transformer."+name]
				}
				if p == nil && name == "lm_head.weight" {
					p = lib["model.embed_tokens.weight"]
				}
				if p == nil { // a buffer the model does not load
					closeTo(t, name+" (copied through)", g, s, 0)
					continue
				}
				rounded := make([]float32, p.W.Len())
				for i, v := range p.W.Data {
					switch si.DType {
					case safetensors.BF16:
						rounded[i] = tensor.RoundBF16(v)
					case safetensors.F16:
						rounded[i] = tensor.F16ToF32(tensor.F32ToF16(v))
					default:
						rounded[i] = v
					}
				}
				closeTo(t, name, g, &tensor.Tensor{Shape: p.W.Shape, Data: rounded}, 0)
				if tensor.MaxAbsDiff(g.Data, s.Data) > 0 {
					changed++
				}
			}
			if changed == 0 {
				t.Errorf("no tensor changed: the adapter was not merged")
			}
			if tc.spec.NoPrefix && !slices.Contains(got.Names(), "h.0.attn.bias") {
				t.Errorf("attn.bias buffers were not copied")
			}

			// The merged directory loads and runs.
			ids := writeFile(t, filepath.Join(tmp, "ids.json"), `{"input_ids": [[1, 2, 3, 4, 5]]}`)
			mustRun(t, "forward", "--model", out, "--input", ids, "--out", filepath.Join(tmp, "logits.safetensors"))
		})
	}
}

// shard splits dir/model.safetensors into two shards listed by
// model.safetensors.index.json.
func shard(t *testing.T, dir string) {
	t.Helper()
	single := filepath.Join(dir, safetensors.SingleFileName)
	var all []safetensors.Entry
	rewriteCheckpoint(t, single, func(es []safetensors.Entry) []safetensors.Entry { all = es; return es })
	weightMap := map[string]string{}
	for i, part := range [][]safetensors.Entry{all[:len(all)/2], all[len(all)/2:]} {
		name := fmt.Sprintf("model-%05d-of-00002.safetensors", i+1)
		for _, e := range part {
			weightMap[e.Name] = name
		}
		if err := safetensors.Write(filepath.Join(dir, name), part, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
	}
	index, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
	writeFile(t, filepath.Join(dir, safetensors.IndexFileName), string(index))
	if err := os.Remove(single); err != nil {
		t.Fatal(err)
	}
}

// TestMergeRefusesNonEmptyOut: an existing non-empty --out is left alone,
// and nothing else is written.
func TestMergeRefusesNonEmptyOut(t *testing.T) {
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(out, "keep.txt"), "mine")
	llama := filepath.Join(testref.Dir(), "model", "llama")
	code, _, stderr := orthotune("merge", "--model", llama, "--adapter", filepath.Join(llama, "oft"), "--out", out)
	if code != 1 || !strings.Contains(stderr, out) || !strings.Contains(stderr, "not empty") {
		t.Errorf("exit %d, stderr %q; want 1 naming %s as not empty", code, stderr, out)
	}
	assertOnly(t, out, "keep.txt")
	assertOnly(t, tmp, "out")

	// A file is refused too; an empty directory is used.
	file := writeFile(t, filepath.Join(tmp, "file"), "x")
	if code, _, stderr := orthotune("merge", "--model", llama, "--adapter", filepath.Join(llama, "oft"), "--out", file); code != 1 || !strings.Contains(stderr, "not a directory") {
		t.Errorf("--out a file: exit %d, stderr %q", code, stderr)
	}
	empty := filepath.Join(tmp, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "merge", "--model", llama, "--adapter", filepath.Join(llama, "oft"), "--out", empty)
	assertOnly(t, empty, "config.json", "model.safetensors")
	assertOnly(t, tmp, "out", "file", "empty")
}

// copyDir copies a flat directory.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
}

// editConfig rewrites dir/adapter_config.json through edit.
func editConfig(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, peft.ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	data, _ = json.MarshalIndent(cfg, "", "  ")
	writeFile(t, path, string(data))
}

// TestAdapterBadInput: every kind of bad adapter makes each command that
// reads it exit 1 with a message naming the file and the field, tensor or
// layer, and leave no output behind.
func TestAdapterBadInput(t *testing.T) {
	refModel := func(arch string) string { return filepath.Join(testref.Dir(), "model", arch) }
	refAdapter := func(arch, name string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) { copyDir(t, filepath.Join(refModel(arch), name), dir) }
	}
	for _, tc := range []struct {
		name string
		// small: the model is a testmodel llama (hidden 16), not the reference.
		small bool
		// adapter writes the adapter directory.
		adapter func(t *testing.T, dir string)
		// needsModel: inspect without --model cannot see the fault.
		needsModel bool
		want       []string
	}{
		{name: "OFT adapter for a different model", small: true, adapter: refAdapter("llama", "oft"), needsModel: true,
			want: []string{"adapter_model.safetensors", "layer model.layers.0.self_attn.q_proj", "oft_R.weight", "[4 120]"}},
		{name: "LoRA adapter for a different model", small: true, adapter: refAdapter("llama", "lora"), needsModel: true,
			want: []string{"adapter_model.safetensors", "layer model.layers.0.self_attn.q_proj", "lora_A.weight", "[8 64]"}},
		{name: "unknown peft_type", adapter: func(t *testing.T, dir string) {
			refAdapter("llama", "oft")(t, dir)
			editConfig(t, dir, func(c map[string]any) { c["peft_type"] = "VERA" })
		}, want: []string{"adapter_config.json", `peft_type "VERA"`, "supported"}},
		{name: "OFT config without oft_block_size", adapter: func(t *testing.T, dir string) {
			refAdapter("llama", "oft")(t, dir)
			editConfig(t, dir, func(c map[string]any) { delete(c, "oft_block_size") })
		}, want: []string{"adapter_config.json", `"oft_block_size"`}},
		{name: "targets match no layer", adapter: func(t *testing.T, dir string) {
			refAdapter("llama", "oft")(t, dir)
			editConfig(t, dir, func(c map[string]any) { c["target_modules"] = []string{"qkv_proj"} })
		}, want: []string{"adapter_config.json", "target_modules", "qkv_proj"}},
		{name: "OFT tensor missing", needsModel: true, adapter: func(t *testing.T, dir string) {
			refAdapter("llama", "oft")(t, dir)
			rewriteCheckpoint(t, filepath.Join(dir, peft.WeightsFile), func(es []safetensors.Entry) []safetensors.Entry {
				return slices.DeleteFunc(es, func(e safetensors.Entry) bool { return strings.Contains(e.Name, "layers.1.self_attn.v_proj") })
			})
		}, want: []string{"adapter_model.safetensors", `"base_model.model.model.layers.1.self_attn.v_proj.oft_R.weight" is missing`}},
		{name: "LoRA tensor missing", adapter: func(t *testing.T, dir string) {
			refAdapter("llama", "lora")(t, dir)
			rewriteCheckpoint(t, filepath.Join(dir, peft.WeightsFile), func(es []safetensors.Entry) []safetensors.Entry {
				return slices.DeleteFunc(es, func(e safetensors.Entry) bool {
					return e.Name == "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight"
				})
			})
		}, want: []string{"adapter_model.safetensors", `"base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight" is missing`}},
		{name: "OFT tensor of a non-triangular width", adapter: func(t *testing.T, dir string) {
			refAdapter("llama", "oft")(t, dir)
			rewriteCheckpoint(t, filepath.Join(dir, peft.WeightsFile), func(es []safetensors.Entry) []safetensors.Entry {
				for i, e := range es {
					if strings.Contains(e.Name, "layers.0.self_attn.q_proj") {
						es[i] = safetensors.Entry{Name: e.Name, DType: e.DType, Shape: []int{4, 119}, Float: make([]float32, 4*119)}
					}
				}
				return es
			})
		}, want: []string{"adapter_model.safetensors", "layer model.layers.0.self_attn.q_proj", "[4 119]"}},
		{name: "adapter directory missing", adapter: func(t *testing.T, dir string) {},
			want: []string{filepath.Join("a", "adapter_config.json"), "no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			adapterDir := filepath.Join(tmp, "a")
			tc.adapter(t, adapterDir)
			modelDir := refModel("llama")
			if tc.small {
				modelDir = filepath.Join(tmp, "m")
				if _, err := testmodel.Write(modelDir, testmodel.Spec{ModelType: "llama"}); err != nil {
					t.Fatal(err)
				}
			}
			ids := writeFile(t, filepath.Join(tmp, "ids.json"), `{"input_ids": [[1, 2, 3, 4], [5, 6, 7, 8]]}`)
			before, _ := os.ReadDir(tmp)
			var keep []string
			for _, e := range before {
				keep = append(keep, e.Name())
			}
			out := filepath.Join(tmp, "out")
			runs := [][]string{
				{"forward", "--model", modelDir, "--adapter", adapterDir, "--input", ids, "--out", out},
				{"forward", "--model", modelDir, "--adapter", adapterDir, "--merged", "--input", ids, "--out", out},
				{"grad", "--model", modelDir, "--adapter", adapterDir, "--input", ids, "--out", out},
				{"merge", "--model", modelDir, "--adapter", adapterDir, "--out", out},
				{"inspect", "--model", modelDir, adapterDir},
			}
			if !tc.needsModel {
				runs = append(runs, []string{"inspect", adapterDir})
			}
			for _, args := range runs {
				code, stdout, stderr := orthotune(args...)
				if code != 1 {
					t.Errorf("%v: exit status %d, want 1 (stdout %q, stderr %q)", args[:2], code, stdout, stderr)
				}
				for _, w := range tc.want {
					if !strings.Contains(stderr, w) {
						t.Errorf("%v: stderr %q does not mention %q", args[:2], stderr, w)
					}
				}
				assertOnly(t, tmp, keep...)
			}
		})
	}
}

func TestAdapterUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"forward", "--model", "m", "--merged", "--input", "i", "--out", "o"}, "--merged needs --adapter"},
		{[]string{"grad", "--model", "m", "--input", "i", "--out", "o"}, "--adapter is required"},
		{[]string{"merge", "--model", "m", "--adapter", "a"}, "--out is required"},
		{[]string{"merge", "--model", "m", "--adapter", "a", "--out", "o", "extra"}, `unexpected argument "extra"`},
		{[]string{"inspect"}, "want 1 argument(s), got 0"},
		{[]string{"inspect", "a", "b"}, "want 1 argument(s), got 2"},
	} {
		code, _, stderr := orthotune(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestMergeFailureLeavesNothing: a failure after the weights are written
// (here a tokenizer.json that cannot be copied) removes the half-built
// directory.
func TestMergeFailureLeavesNothing(t *testing.T) {
	tmp := t.TempDir()
	modelDir := filepath.Join(tmp, "m")
	if _, err := testmodel.Write(modelDir, testmodel.Spec{ModelType: "llama"}); err != nil {
		t.Fatal(err)
	}
	makeAdapter(t, modelDir, filepath.Join(tmp, "a"), methodConfig(t, "oft", []string{"q_proj"}, "oft-block-size", "8"))
	if err := os.Mkdir(filepath.Join(modelDir, "tokenizer.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := orthotune("merge", "--model", modelDir, "--adapter", filepath.Join(tmp, "a"), "--out", filepath.Join(tmp, "out"))
	if code != 1 || !strings.Contains(stderr, "tokenizer.json") {
		t.Errorf("exit %d, stderr %q; want 1 naming tokenizer.json", code, stderr)
	}
	assertOnly(t, tmp, "m", "a")
}

// TestNeumannSeriesFlag: an OFT adapter whose peft_version is missing is
// computed with PEFT 0.16–0.17's series unless --neumann-series says
// otherwise; forcing "current" on it reproduces PEFT ≥ 0.18's reference.
func TestNeumannSeriesFlag(t *testing.T) {
	cases, err := testref.Load()
	if err != nil {
		t.Fatal(err)
	}
	c, err := cases.Adapter("llama", "oft")
	if err != nil {
		t.Fatal(err)
	}
	ref := openST(t, filepath.Join(testref.Dir(), c.Ref))
	want := readTensor(t, ref, "logits")
	tmp := t.TempDir()
	adapter := filepath.Join(tmp, "old")
	copyDir(t, filepath.Join(testref.Dir(), c.AdapterDir), adapter)
	editConfig(t, adapter, func(m map[string]any) { delete(m, "peft_version") })
	modelDir := filepath.Join(testref.Dir(), "model", "llama")
	ids := repoPath("testdata", "examples", "llama_input_ids.json")
	logits := func(dir, series string) *tensor.Tensor {
		out := filepath.Join(tmp, series+".safetensors")
		mustRun(t, "forward", "--model", modelDir, "--adapter", dir, "--neumann-series", series, "--input", ids, "--out", out)
		return readTensor(t, openST(t, out), "logits")
	}
	tol := c.Tolerances["logits"].Atol
	if d := tensor.MaxAbsDiff(logits(adapter, "current").Data, want.Data); d > tol {
		t.Errorf("forced current series: logits differ from PEFT ≥ 0.18's by %g", d)
	}
	auto, legacy := logits(adapter, "auto"), logits(adapter, "legacy")
	if d := tensor.MaxAbsDiff(auto.Data, legacy.Data); d != 0 {
		t.Errorf("auto on an adapter without peft_version differs from legacy by %g", d)
	}
	if d := tensor.MaxAbsDiff(auto.Data, want.Data); d < 100*tol {
		t.Errorf("legacy series gave logits within %g of the current series'; the test cannot tell them apart", d)
	}
	code, _, stderr := orthotune("forward", "--model", modelDir, "--adapter", adapter, "--neumann-series", "newest", "--input", ids, "--out", filepath.Join(tmp, "x.safetensors"))
	if code == 0 || !strings.Contains(stderr, "--neumann-series") {
		t.Errorf("bad --neumann-series: exit %d, %q", code, stderr)
	}
}
