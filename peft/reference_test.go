package peft_test

import (
	"path/filepath"
	"testing"

	"github.com/orthotune/orthotune/internal/peftcheck"
	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/gemma3"
	_ "github.com/orthotune/orthotune/model/gpt2"
	_ "github.com/orthotune/orthotune/model/llama"
	_ "github.com/orthotune/orthotune/model/qwen3"
	_ "github.com/orthotune/orthotune/peft/lora"
	_ "github.com/orthotune/orthotune/peft/oft"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// openRef opens a reference file for the test's duration.
func openRef(t *testing.T, path string) *safetensors.File {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// float32Of reads tensor name of f.
func float32Of(t *testing.T, f *safetensors.File, name string) *tensor.Tensor {
	t.Helper()
	x, err := f.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestReferenceModelAdapters loads each PEFT adapter directory of the tiny
// Llama and GPT-2 models of testdata/peft-ref and checks logits, loss, the
// gradient of every adapter tensor, the merged weights, merged-then-forward,
// and that disabling the adapter gives the base model back
// (peftcheck.Model).
func TestReferenceModelAdapters(t *testing.T) {
	cases, err := testref.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"llama", "gpt2"} {
		for _, name := range []string{"oft", "oft_cayley", "lora"} {
			t.Run(arch+"/"+name, func(t *testing.T) {
				c, err := cases.Adapter(arch, name)
				if err != nil {
					t.Fatal(err)
				}
				ref := openRef(t, filepath.Join(testref.Dir(), c.Ref))
				ids, err := testref.IDs(ref, "input_ids")
				if err != nil {
					t.Fatal(err)
				}
				mc := cases.Model[arch]
				baseRef := openRef(t, filepath.Join(testref.Dir(), mc.Base.File))
				peftcheck.Model(t, peftcheck.ModelCase{
					ModelDir: filepath.Join(testref.Dir(), mc.Dir), AdapterDir: filepath.Join(testref.Dir(), c.AdapterDir),
					IDs: ids, Ref: ref, Grads: openRef(t, filepath.Join(testref.Dir(), c.Grads)), Loss: c.Loss,
					BaseLogits: float32Of(t, baseRef, "logits"),
					LogitsAtol: c.Tolerances["logits"].Atol, BaseLogitsAtol: mc.Base.Tolerances["logits"].Atol,
					LossAtol: c.Tolerances["loss"].Atol,
					GradAtol: func(string) float64 { return c.Tolerances["grads"].Atol },
					// cases.json of peft-ref gives no merged tolerance.
					MergedAtol: func(string) float64 { return c.Tolerances["logits"].Atol / 10 },
				})
			})
		}
	}
}

// TestReferenceModelsAdapters runs every adapter case of
// testdata/peft-ref-models (Qwen3, Gemma 3: OFT and LoRA directories on
// every linear layer) through peftcheck.Model, with cases.json's
// per-tensor tolerances.
//
// Every case runs, through the package registered for its model_type: an
// architecture's cases need its package blank-imported
// above. A case of a model type not registered fails the test, and so does
// an architecture it imports for the purpose (refArchs) without a case.
func TestReferenceModelsAdapters(t *testing.T) {
	refs, err := testref.LoadModelRefs()
	if err != nil {
		t.Fatal(err)
	}
	cases, leftOut := refs.Select(model.ModelTypes(), true)
	if len(leftOut) > 0 {
		t.Errorf("cases of model types this test binary does not register: %v (blank-import their packages here)", leftOut)
	}
	requireArchs(t, cases)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			atol := func(name string) float64 {
				t.Helper()
				a, err := c.Tolerance(name)
				if err != nil {
					t.Fatal(err)
				}
				return a
			}
			base, err := refs.Base(c)
			if err != nil {
				t.Fatal(err)
			}
			ids, err := c.IDs()
			if err != nil {
				t.Fatal(err)
			}
			baseAtol, err := base.Tolerance("logits")
			if err != nil {
				t.Fatal(err)
			}
			var loss float64
			ref := openRef(t, c.Path(c.Ref))
			if l := float32Of(t, ref, "loss"); l.Len() == 1 {
				loss = float64(l.Data[0])
			} else {
				t.Fatalf("loss has shape %v", l.Shape)
			}
			peftcheck.Model(t, peftcheck.ModelCase{
				ModelDir: c.Path(c.ModelDir), AdapterDir: c.Path(c.AdapterDir), IDs: ids, Ref: ref,
				Grads: openRef(t, c.Path(c.Grads)), Loss: loss,
				BaseLogits: float32Of(t, openRef(t, base.Path(base.Ref)), "logits"),
				LogitsAtol: atol("logits"), BaseLogitsAtol: baseAtol, LossAtol: atol("loss"),
				GradAtol: atol, MergedAtol: atol,
			})
		})
	}
}

// refArchs are the model types of testdata/peft-ref-models whose packages
// this test binary imports; each must have cases.
var refArchs = []string{"qwen3", "gemma3_text"}

// requireArchs fails the test unless every model type of refArchs has a
// case among cases.
func requireArchs(t *testing.T, cases []*testref.ModelRef) {
	t.Helper()
	for _, arch := range refArchs {
		found := false
		for _, c := range cases {
			found = found || c.ModelType == arch
		}
		if !found {
			t.Errorf("no case of model_type %q ran", arch)
		}
	}
}
