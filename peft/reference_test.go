package peft_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/peftcheck"
	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/gpt2"
	_ "github.com/orthotune/orthotune/model/llama"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/peft"
	_ "github.com/orthotune/orthotune/peft/lora"
	_ "github.com/orthotune/orthotune/peft/oft"
)

// TestReferenceModelAdapters loads each PEFT adapter directory of the tiny
// Llama and GPT-2 models and checks logits, loss, the gradient of every
// adapter tensor, the merged weights, merged-then-forward, and that
// disabling the adapter gives the base model back.
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
				base, err := model.Load(filepath.Join(testref.Dir(), cases.Model[arch].Dir))
				if err != nil {
					t.Fatal(err)
				}
				pm := peft.Wrap(base)
				a, err := pm.Load("default", filepath.Join(testref.Dir(), c.AdapterDir))
				if err != nil {
					t.Fatal(err)
				}
				ref, err := testref.Tensors(c.Ref)
				if err != nil {
					t.Fatal(err)
				}
				defer ref.Close()
				ids, err := testref.IDs(ref, "input_ids")
				if err != nil {
					t.Fatal(err)
				}
				a.SetTrainable(true)
				logits, err := pm.Forward(ids)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := ref.Float32("logits")
				peftcheck.Compare(t, "logits", logits, want, c.Tolerances["logits"].Atol)
				var ce nn.CrossEntropy
				loss, _, err := ce.Forward(logits, nn.ShiftedTargets(ids))
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("loss %.9f, reference %.9f", loss, c.Loss)
				if math.Abs(loss-c.Loss) > c.Tolerances["loss"].Atol {
					t.Errorf("loss %.9f, reference %.9f", loss, c.Loss)
				}
				pm.Backward(ce.Backward(1))
				grads, err := testref.Tensors(c.Grads)
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

				if err := pm.Merge(); err != nil {
					t.Fatal(err)
				}
				weights := map[string]*nn.Param{}
				for _, p := range pm.Params() {
					weights[p.Name] = p
				}
				for _, key := range c.MergedKeys {
					w, _ := ref.Float32(key)
					peftcheck.Compare(t, key, weights[strings.TrimPrefix(key, "merged.")].W, w, c.Tolerances["logits"].Atol/10)
				}
				merged, err := pm.Forward(ids)
				if err != nil {
					t.Fatal(err)
				}
				peftcheck.Compare(t, "merged logits", merged, want, c.Tolerances["logits"].Atol)
				if err := pm.DisableAdapters(); err != nil {
					t.Fatal(err)
				}
				plain, err := pm.Forward(ids)
				if err != nil {
					t.Fatal(err)
				}
				baseRef, err := testref.Tensors(cases.Model[arch].Base.File)
				if err != nil {
					t.Fatal(err)
				}
				defer baseRef.Close()
				bl, _ := baseRef.Float32("logits")
				peftcheck.Compare(t, "disabled = base logits", plain, bl, cases.Model[arch].Base.Tolerances["logits"].Atol)
			})
		}
	}
}
