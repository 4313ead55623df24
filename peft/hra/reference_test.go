package hra_test

import (
	"encoding/json"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/peftcheck"
	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/gpt2"
	_ "github.com/orthotune/orthotune/model/llama"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/hra"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// orthoDir is testdata/peft-ref-ortho, the BOFT/HRA references.
func orthoDir() string { return testref.Dir() + "-ortho" }

// orthoCase is one entry of cases.json's flat "cases" map.
type orthoCase struct {
	Ref        string             `json:"ref"`
	AdapterDir string             `json:"adapter_dir"`
	Grads      string             `json:"grads"`
	ModelDir   string             `json:"model_dir"`
	PeftType   string             `json:"peft_type"`
	Atol       map[string]float64 `json:"atol"`
}

// atol returns the tolerance for name: an exact key, else the longest
// matching "prefix.*" pattern.
func (c *orthoCase) atol(t *testing.T, name string) float64 {
	t.Helper()
	if v, ok := c.Atol[name]; ok {
		return v
	}
	best, found := -1, 0.0
	for k, v := range c.Atol {
		if p, ok := strings.CutSuffix(k, "*"); ok && strings.HasPrefix(name, p) && len(p) > best {
			best, found = len(p), v
		}
	}
	if best < 0 {
		t.Fatalf("cases.json gives no tolerance for %q", name)
	}
	return found
}

type orthoCases struct {
	Cases map[string]orthoCase `json:"cases"`
	Layer map[string]struct {
		Config json.RawMessage `json:"config"`
		Base   struct {
			Kind string `json:"kind"`
		} `json:"base"`
	} `json:"layer"`
	Model map[string]struct {
		Adapters map[string]struct {
			Loss       float64  `json:"loss"`
			MergedKeys []string `json:"merged_keys"`
		} `json:"adapters"`
		BaseRef string `json:"base_ref"`
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

func openRef(t *testing.T, rel string) *safetensors.File {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(orthoDir(), rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func get(t *testing.T, f *safetensors.File, name string) *tensor.Tensor {
	t.Helper()
	x, err := f.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestReferenceLayers: every HRA layer case (r 8, odd r 7, apply_GS, and
// GPT-2's Conv1D): output, H, the unit vectors or Q, gradients of x and
// hra_u, the merged weight, merged forward = adapter forward, and unmerge
// restoring the base weight, within cases.json's tolerances.
func TestReferenceLayers(t *testing.T) {
	cases := loadOrthoCases(t)
	var names []string
	for k, c := range cases.Cases {
		if name, ok := strings.CutPrefix(k, "layer/"); ok && c.PeftType == "HRA" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if len(names) != 4 {
		t.Errorf("cases.json has %d HRA layer cases, want 4: %v", len(names), names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			c := cases.Cases["layer/"+name]
			meta := cases.Layer[name]
			var fields map[string]any
			if err := json.Unmarshal(meta.Config, &fields); err != nil {
				t.Fatal(err)
			}
			fields["peft_type"] = "HRA"
			fields["target_modules"] = []string{"layer"}
			data, _ := json.Marshal(fields)
			cfg, _, err := peft.ParseConfig(name+" config", data)
			if err != nil {
				t.Fatal(err)
			}
			f := openRef(t, c.Ref)
			var bias *tensor.Tensor
			if _, ok := f.Info("base.bias"); ok {
				bias = get(t, f, "base.bias")
			}
			base, err := nn.NewLinear("layer", get(t, f, "base.weight"), bias, meta.Base.Kind != "nn.Linear")
			if err != nil {
				t.Fatal(err)
			}
			l, err := cfg.LoadLayer(model.NewSlot(base), map[string]*tensor.Tensor{"hra_u": get(t, f, "hra_u")})
			if err != nil {
				t.Fatal(err)
			}
			layer := l.(*hra.Layer)
			layer.Param.SetTrainable(true)
			x := get(t, f, "x")
			y := layer.Forward(x).Clone()
			peftcheck.Compare(t, "y", y, get(t, f, "y"), c.atol(t, "y"))
			h := layer.Factor()
			in := base.In
			peftcheck.Compare(t, "rotation", &tensor.Tensor{Shape: []int{in, in}, Data: h.Dense()}, get(t, f, "rotation"), c.atol(t, "rotation"))
			vec := "hra_unit_u"
			if layer.GS {
				vec = "hra_gs_q"
			}
			peftcheck.Compare(t, vec, &tensor.Tensor{Shape: []int{in, layer.R}, Data: h.Vectors()}, get(t, f, vec), c.atol(t, vec))
			dx := layer.Backward(get(t, f, "G"))
			peftcheck.Compare(t, "grad.x", dx, get(t, f, "grad.x"), c.atol(t, "grad.x"))
			peftcheck.Compare(t, "grad.hra_u", layer.Param.Grad, get(t, f, "grad.hra_u"), c.atol(t, "grad.hra_u"))
			if err := layer.Merge(); err != nil {
				t.Fatal(err)
			}
			peftcheck.Compare(t, "merged.weight", base.Weight.W, get(t, f, "merged.weight"), c.atol(t, "merged.weight"))
			peftcheck.Compare(t, "merged forward", base.Forward(x), y, c.atol(t, "y"))
			if err := layer.Unmerge(); err != nil {
				t.Fatal(err)
			}
			peftcheck.Compare(t, "unmerged weight", base.Weight.W, get(t, f, "base.weight"), c.atol(t, "merged.weight"))
		})
	}
}

// TestReferenceModels loads each HRA adapter directory of the tiny Llama
// (product of reflections; Gram–Schmidt) and GPT-2 (Conv1D) models and
// checks logits, loss, the gradient of every hra_u, the merged weights,
// merged-then-forward, and that disabling the adapter gives the base
// model back.
func TestReferenceModels(t *testing.T) {
	cases := loadOrthoCases(t)
	var names []string
	for k, c := range cases.Cases {
		if !strings.HasPrefix(k, "layer/") && c.PeftType == "HRA" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	if len(names) != 3 {
		t.Errorf("cases.json has %d HRA model cases, want 3: %v", len(names), names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			c := cases.Cases[name]
			arch, adapter, _ := strings.Cut(name, "/")
			meta := cases.Model[arch].Adapters[adapter]
			base, err := model.Load(filepath.Join(orthoDir(), filepath.FromSlash(c.ModelDir)))
			if err != nil {
				t.Fatal(err)
			}
			pm := peft.Wrap(base)
			a, err := pm.Load("default", filepath.Join(orthoDir(), filepath.FromSlash(c.AdapterDir)))
			if err != nil {
				t.Fatal(err)
			}
			ref := openRef(t, c.Ref)
			ids, err := testref.IDs(ref, "input_ids")
			if err != nil {
				t.Fatal(err)
			}
			a.SetTrainable(true)
			logits, err := pm.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			want := get(t, ref, "logits")
			peftcheck.Compare(t, "logits", logits, want, c.atol(t, "logits"))
			var ce nn.CrossEntropy
			loss, _, err := ce.Forward(logits, nn.ShiftedTargets(ids))
			if err != nil {
				t.Fatal(err)
			}
			refLoss := float64(get(t, ref, "loss").Data[0])
			t.Logf("loss %.9f, reference %.9f (cases.json %.9f), tolerance %.3g", loss, refLoss, meta.Loss, c.atol(t, "loss"))
			if math.Abs(loss-meta.Loss) > c.atol(t, "loss") {
				t.Errorf("loss %.9f, reference %.9f", loss, meta.Loss)
			}
			pm.Backward(ce.Backward(1))
			grads := openRef(t, c.Grads)
			params := a.Params()
			if len(params) != len(grads.Names()) || len(params) == 0 {
				t.Errorf("adapter has %d tensors, reference gradients %d", len(params), len(grads.Names()))
			}
			for _, p := range params {
				peftcheck.Compare(t, "grad "+strings.TrimPrefix(p.Key, peft.KeyPrefix), p.Param.Grad, get(t, grads, p.Key), c.atol(t, p.Key))
			}
			if err := pm.Merge(); err != nil {
				t.Fatal(err)
			}
			weights := map[string]*nn.Param{}
			for _, p := range pm.Params() {
				weights[p.Name] = p
			}
			if len(meta.MergedKeys) == 0 {
				t.Fatal("no merged weights in the reference")
			}
			for _, key := range meta.MergedKeys {
				w, ok := weights[strings.TrimPrefix(key, "merged.")]
				if !ok {
					t.Fatalf("the model has no %s", strings.TrimPrefix(key, "merged."))
				}
				peftcheck.Compare(t, key, w.W, get(t, ref, key), c.atol(t, key))
			}
			merged, err := pm.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			peftcheck.Compare(t, "merged logits", merged, want, c.atol(t, "logits"))
			if err := pm.DisableAdapters(); err != nil {
				t.Fatal(err)
			}
			plain, err := pm.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			baseRef := openRef(t, path.Clean(cases.Model[arch].BaseRef))
			peftcheck.Compare(t, "disabled = base logits", plain, get(t, baseRef, "logits"), c.atol(t, "logits"))
		})
	}
}
