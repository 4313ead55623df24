package boft_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/peftcheck"
	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/gpt2"
	_ "github.com/orthotune/orthotune/model/llama"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/boft"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// orthoDir is testdata/peft-ref-ortho, the BOFT and HRA references.
func orthoDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "peft-ref-ortho")
}

// orthoCases is the part of peft-ref-ortho/cases.json these tests read.
type orthoCases struct {
	Layer map[string]json.RawMessage `json:"layer"`
	Model map[string]struct {
		BaseModelDir string                     `json:"base_model_dir"`
		BaseRef      string                     `json:"base_ref"`
		Adapters     map[string]json.RawMessage `json:"adapters"`
	} `json:"model"`
}

func loadOrthoCases(t *testing.T) *orthoCases {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(orthoDir(), "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c orthoCases
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// layerCase reads a peft-ref-ortho layer case into testref's LayerCase
// (boft_perm, int64, separately) and the resolved factor count.
func layerCase(t *testing.T, name string) (*testref.LayerCase, []int64, int) {
	t.Helper()
	raw, ok := loadOrthoCases(t).Layer[name]
	if !ok {
		t.Fatalf("cases.json has no layer case %q", name)
	}
	var meta struct {
		PeftType   string                       `json:"peft_type"`
		Config     json.RawMessage              `json:"config"`
		File       string                       `json:"file"`
		Base       struct{ Kind string }        `json:"base"`
		Tolerances map[string]testref.Tolerance `json:"tolerances"`
		Resolved   struct {
			Factors int `json:"n_butterfly_factors"`
		} `json:"resolved"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(filepath.Join(orthoDir(), meta.File))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lc := &testref.LayerCase{Name: name, PeftType: meta.PeftType, Config: meta.Config, Conv1D: meta.Base.Kind != "nn.Linear",
		Tolerances: meta.Tolerances, Tensors: map[string]*tensor.Tensor{}}
	var perm []int64
	for _, n := range f.Names() {
		if n == "boft_perm" {
			if perm, _, err = f.Int64(n); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if lc.Tensors[n], err = f.Float32(n); err != nil {
			t.Fatal(err)
		}
	}
	return lc, perm, meta.Resolved.Factors
}

// TestReferenceLayers: every BOFT single-layer case — the permutations,
// Cayley blocks and rotation, y, the gradients of x, boft_R and boft_s,
// the merged weight, merged forward and exact unmerge — within the case's
// tolerances. boft_bn4_f2_nocuda is what PEFT computes without its CUDA
// extension: a config saying 2 factors with a one-factor boft_R, which
// must load with the one factor the weights hold.
func TestReferenceLayers(t *testing.T) {
	for _, name := range []string{"boft_b8_f1", "boft_bn4_f2", "boft_bn4_f2_nocuda", "boft_conv1d"} {
		t.Run(name, func(t *testing.T) {
			lc, perm, factors := layerCase(t, name)
			cfg := peftcheck.Config(t, lc)
			var bias *tensor.Tensor
			if b, ok := lc.Tensors["base.bias"]; ok {
				bias = b.Clone()
			}
			base, err := nn.NewLinear("layer", lc.Tensors["base.weight"].Clone(), bias, lc.Conv1D)
			if err != nil {
				t.Fatal(err)
			}
			pl, err := cfg.LoadLayer(model.NewSlot(base), map[string]*tensor.Tensor{
				"boft_R": lc.Tensors["boft_R"].Clone(), "boft_s": lc.Tensors["boft_s"].Clone()})
			if err != nil {
				t.Fatal(err)
			}
			l := pl.(*boft.Layer)
			if l.Factors != factors {
				t.Fatalf("%d butterfly factors, reference %d", l.Factors, factors)
			}
			n := base.In
			for i := range factors {
				p := l.Butterfly().Perm(i)
				for k, v := range p {
					if int64(v) != perm[i*n+k] {
						t.Fatalf("perm_%d[%d] = %d, reference %d", i, k, v, perm[i*n+k])
					}
				}
			}
			blocks := l.Rotations()
			peftcheck.Compare(t, "boft_blocks", &tensor.Tensor{Shape: lc.Tensors["boft_blocks"].Shape, Data: blocks}, lc.Tensors["boft_blocks"], lc.Atol("boft_blocks"))
			peftcheck.Compare(t, "rotation", &tensor.Tensor{Shape: []int{n, n}, Data: l.Butterfly().Matrix(blocks)}, lc.Tensors["rotation"], lc.Atol("rotation"))
			for _, p := range l.Tensors() {
				p.Param.SetTrainable(true)
			}
			x, g := lc.Tensors["x"], lc.Tensors["G"]
			y := l.Forward(x)
			peftcheck.Compare(t, "y", y, lc.Tensors["y"], lc.Atol("y"))
			y = y.Clone()
			dx := l.Backward(g)
			peftcheck.Compare(t, "grad.x", dx, lc.Tensors["grad.x"], lc.Atol("grad.x"))
			for _, p := range l.Tensors() {
				peftcheck.Compare(t, "grad."+p.Suffix, p.Param.Grad, lc.Tensors["grad."+p.Suffix], lc.Atol("grad."+p.Suffix))
			}
			if err := l.Merge(); err != nil {
				t.Fatal(err)
			}
			peftcheck.Compare(t, "merged.weight", base.Weight.W, lc.Tensors["merged.weight"], lc.Atol("merged.weight"))
			peftcheck.Compare(t, "merged forward", base.Forward(x), y, lc.Atol("y"))
			if err := l.Unmerge(); err != nil {
				t.Fatal(err)
			}
			peftcheck.Compare(t, "unmerged weight", base.Weight.W, lc.Tensors["base.weight"], lc.Atol("merged.weight"))
		})
	}
}

// adapterCase is one model adapter entry of peft-ref-ortho/cases.json.
type adapterCase struct {
	AdapterDir string                       `json:"adapter_dir"`
	Ref        string                       `json:"ref"`
	Grads      string                       `json:"grads"`
	Loss       float64                      `json:"loss"`
	MergedKeys []string                     `json:"merged_keys"`
	Tolerances map[string]testref.Tolerance `json:"tolerances"`
}

// TestReferenceModels loads the BOFT adapter directories of the tiny Llama
// (two factors on q_proj, v_proj, down_proj) and GPT-2 (Conv1D c_attn) and
// checks logits, loss, every adapter tensor's gradient, the merged
// weights, the merged model's logits, and that disabling the adapter gives
// the base model back.
func TestReferenceModels(t *testing.T) {
	cases := loadOrthoCases(t)
	for _, tc := range []struct{ arch, name string }{{"llama", "boft"}, {"gpt2", "boft_conv1d"}} {
		t.Run(tc.arch+"/"+tc.name, func(t *testing.T) {
			mc := cases.Model[tc.arch]
			var c adapterCase
			if err := json.Unmarshal(mc.Adapters[tc.name], &c); err != nil {
				t.Fatal(err)
			}
			base, err := model.Load(filepath.Join(orthoDir(), mc.BaseModelDir))
			if err != nil {
				t.Fatal(err)
			}
			pm := peft.Wrap(base)
			a, err := pm.Load("default", filepath.Join(orthoDir(), c.AdapterDir))
			if err != nil {
				t.Fatal(err)
			}
			ref, err := safetensors.Open(filepath.Join(orthoDir(), c.Ref))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			baseRef, err := safetensors.Open(filepath.Join(orthoDir(), mc.BaseRef))
			if err != nil {
				t.Fatal(err)
			}
			defer baseRef.Close()
			ids, err := testref.IDs(baseRef, "input_ids")
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := ref.Info("input_ids"); ok {
				if ids, err = testref.IDs(ref, "input_ids"); err != nil {
					t.Fatal(err)
				}
			}
			a.SetTrainable(true)
			logits, err := pm.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.Float32("logits")
			if err != nil {
				t.Fatal(err)
			}
			peftcheck.Compare(t, "logits", logits, want, c.Tolerances["logits"].Atol)
			var ce nn.CrossEntropy
			loss, _, err := ce.Forward(logits, nn.ShiftedTargets(ids))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("loss %.9f, reference %.9f (|Δ| %.3g, tolerance %.3g)", loss, c.Loss, math.Abs(loss-c.Loss), c.Tolerances["loss"].Atol)
			if math.Abs(loss-c.Loss) > c.Tolerances["loss"].Atol {
				t.Errorf("loss %.9f, reference %.9f", loss, c.Loss)
			}
			pm.Backward(ce.Backward(1))
			grads, err := safetensors.Open(filepath.Join(orthoDir(), c.Grads))
			if err != nil {
				t.Fatal(err)
			}
			defer grads.Close()
			params := a.Params()
			if len(params) != len(grads.Names()) {
				t.Errorf("adapter has %d tensors, reference gradients %d", len(params), len(grads.Names()))
			}
			for _, p := range params {
				g, err := grads.Float32(p.Key)
				if err != nil {
					t.Fatal(err)
				}
				peftcheck.Compare(t, "grad "+strings.TrimPrefix(p.Key, peft.KeyPrefix), p.Param.Grad, g, c.Tolerances["grads"].Atol)
			}
			orig := map[string]*tensor.Tensor{}
			weights := map[string]*nn.Param{}
			for _, p := range pm.Params() {
				weights[p.Name] = p
				orig[p.Name] = p.W.Clone()
			}
			if err := pm.Merge(); err != nil {
				t.Fatal(err)
			}
			for _, key := range c.MergedKeys {
				w, err := ref.Float32(key)
				if err != nil {
					t.Fatal(err)
				}
				peftcheck.Compare(t, key, weights[strings.TrimPrefix(key, "merged.")].W, w, c.Tolerances["merged"].Atol)
			}
			merged, err := pm.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			peftcheck.Compare(t, "merged logits", merged, want, c.Tolerances["logits"].Atol)
			if err := pm.DisableAdapters(); err != nil { // unmerges
				t.Fatal(err)
			}
			for _, key := range c.MergedKeys {
				name := strings.TrimPrefix(key, "merged.")
				peftcheck.Compare(t, "unmerged "+name, weights[name].W, orig[name], 1e-6)
			}
			plain, err := pm.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			bl, err := baseRef.Float32("logits")
			if err != nil {
				t.Fatal(err)
			}
			peftcheck.Compare(t, "disabled = base logits", plain, bl, c.Tolerances["logits"].Atol)
		})
	}
}

// TestReferenceConfigRoundTrip: the reference adapter configs parse with
// every PEFT field and encode back to the same JSON object.
func TestReferenceConfigRoundTrip(t *testing.T) {
	for _, dir := range []string{"model/llama/boft", "model/gpt2/boft_conv1d"} {
		path := filepath.Join(orthoDir(), dir, peft.ConfigFile)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, warnings, err := peft.ParseConfig(path, data)
		if err != nil {
			t.Fatal(err)
		}
		if len(warnings) != 0 {
			t.Errorf("%s: warnings %q", dir, warnings)
		}
		out, err := peft.EncodeConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var a, b map[string]any
		if err := json.Unmarshal(data, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatal(err)
		}
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range a {
				if !yield(k) {
					return
				}
			}
		}) {
			ja, _ := json.Marshal(a[k])
			jb, _ := json.Marshal(b[k])
			if string(ja) != string(jb) {
				t.Errorf("%s: field %s: %s, written back %s", dir, k, ja, jb)
			}
		}
		if len(a) != len(b) {
			t.Errorf("%s: %d fields, written back %d", dir, len(a), len(b))
		}
	}
}

// TestFreshConfigHasEveryField: a config orthotune creates writes every
// field PEFT's own BOFT files have, and no other.
func TestFreshConfigHasEveryField(t *testing.T) {
	out, err := peft.EncodeConfig(boft.NewConfig(peft.Names("q_proj")))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := os.ReadFile(filepath.Join(orthoDir(), "model", "llama", "boft", peft.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ref, &want); err != nil {
		t.Fatal(err)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("fresh config lacks %q", k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("fresh config has %q, PEFT's file does not", k)
		}
	}
	for k, v := range map[string]any{"boft_block_size": 4.0, "boft_block_num": 0.0, "boft_n_butterfly_factor": 1.0, "boft_dropout": 0.0, "init_weights": true, "peft_type": "BOFT"} {
		if got[k] != v {
			t.Errorf("fresh %s = %v, PEFT's default %v", k, got[k], v)
		}
	}
}

// TestInspectDir: the reference adapters inspected from their files alone:
// every layer's block size, blocks, factors, an orthogonal rotation with
// determinant +1.
func TestInspectDir(t *testing.T) {
	for _, tc := range []struct {
		dir    string
		layers int
		b      int
	}{{"model/llama/boft", 6, 8}, {"model/gpt2/boft_conv1d", 2, 16}} {
		r, err := peft.InspectDir(filepath.Join(orthoDir(), tc.dir))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Layers) != tc.layers {
			t.Fatalf("%s: %d layers, want %d", tc.dir, len(r.Layers), tc.layers)
		}
		for _, l := range r.Layers {
			d := map[string]any{}
			for _, x := range l.Diagnostics {
				d[x.Key] = x.Value
			}
			if d["block_size"] != tc.b || d["butterfly_factors"] != 2 || d["det_sign"] != 1 || !(d["orthogonality_error"].(float64) < 1e-5) {
				t.Errorf("%s %s: diagnostics %v", tc.dir, l.Module, d)
			}
		}
	}
}
