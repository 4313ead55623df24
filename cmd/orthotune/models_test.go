package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
)

// modelRefs returns testdata/peft-ref-models' cases of the model types
// this binary registers (main.go's blank imports), adapter cases or base
// cases, and logs the others.
func modelRefs(t *testing.T, adapters bool) []*testref.ModelRef {
	t.Helper()
	refs, err := testref.LoadModelRefs()
	if err != nil {
		t.Fatal(err)
	}
	cases, leftOut := refs.Select(model.ModelTypes(), adapters)
	if len(leftOut) > 0 {
		t.Logf("cases of model types the command does not register are not run: %v", leftOut)
	}
	if len(cases) == 0 {
		t.Fatal("no case of peft-ref-models ran")
	}
	return cases
}

// writeIDs writes the case's input_ids as forward's --input file.
func writeIDs(t *testing.T, c *testref.ModelRef, path string) {
	t.Helper()
	ids, err := c.IDs()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string][][]int{"input_ids": ids})
	if err != nil {
		t.Fatal(err)
	}
	writeText(t, path, string(b))
}

// tolerance returns the case's tolerance for name.
func tolerance(t *testing.T, c *testref.ModelRef, name string) float64 {
	t.Helper()
	a, err := c.Tolerance(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// checkForwardOut compares forward's --out file with the reference's
// logits and loss.
func checkForwardOut(t *testing.T, what, out string, c *testref.ModelRef) {
	t.Helper()
	ref := openST(t, c.Path(c.Ref))
	got := openST(t, out)
	closeTo(t, what+" logits", readTensor(t, got, "logits"), readTensor(t, ref, "logits"), tolerance(t, c, "logits"))
	l, want := readTensor(t, got, "loss"), readTensor(t, ref, "loss")
	if l.Len() != 1 || math.Abs(float64(l.Data[0]-want.Data[0])) > tolerance(t, c, "loss") {
		t.Errorf("%s loss %v, reference %v", what, l.Data, want.Data)
	}
}

// TestModelsCommandsReproduceReference runs the commands on the models of
// testdata/peft-ref-models (Qwen3, and each further architecture the
// command registers): inspect-model and forward on the base model; forward
// (as is and --merged), grad and merge with each PEFT adapter directory,
// and forward and inspect-model on the merged model directory, all within
// cases.json's tolerances.
func TestModelsCommandsReproduceReference(t *testing.T) {
	for _, c := range modelRefs(t, false) {
		t.Run(c.Name, func(t *testing.T) {
			modelDir := c.Path(c.ModelDir)
			stdout := mustRun(t, "inspect-model", modelDir)
			for _, want := range []string{"architecture   " + c.ModelType, "self_attn.q_proj", "output head"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("inspect-model output lacks %q:\n%s", want, stdout)
				}
			}
			input := filepath.Join(t.TempDir(), "ids.json")
			writeIDs(t, c, input)
			out := filepath.Join(t.TempDir(), "base.safetensors")
			mustRun(t, "forward", "--model", modelDir, "--input", input, "--out", out)
			checkForwardOut(t, "base", out, c)
		})
	}
	for _, c := range modelRefs(t, true) {
		t.Run(c.Name, func(t *testing.T) {
			modelDir, adapterDir := c.Path(c.ModelDir), c.Path(c.AdapterDir)
			tmp := t.TempDir()
			input := filepath.Join(tmp, "ids.json")
			writeIDs(t, c, input)
			out := filepath.Join(tmp, "adapter.safetensors")
			if stdout := mustRun(t, "forward", "--model", modelDir, "--adapter", adapterDir, "--input", input, "--out", out); !strings.Contains(stdout, c.PeftType+" adapter") {
				t.Errorf("stdout %q does not say which adapter ran", stdout)
			}
			checkForwardOut(t, "adapter", out, c)
			out = filepath.Join(tmp, "merged.safetensors")
			mustRun(t, "forward", "--model", modelDir, "--adapter", adapterDir, "--merged", "--input", input, "--out", out)
			checkForwardOut(t, "--merged", out, c)

			out = filepath.Join(tmp, "grads.safetensors")
			mustRun(t, "grad", "--model", modelDir, "--adapter", adapterDir, "--input", input, "--out", out)
			grads, want := openST(t, out), openST(t, c.Path(c.Grads))
			if g, w := len(grads.Names()), len(want.Names()); g != w || g == 0 {
				t.Errorf("%d gradients, reference %d", g, w)
			}
			for _, key := range want.Names() {
				closeTo(t, "grad "+key, readTensor(t, grads, key), readTensor(t, want, key), tolerance(t, c, key))
			}

			mergedDir := filepath.Join(tmp, "merged-model")
			mustRun(t, "merge", "--model", modelDir, "--adapter", adapterDir, "--out", mergedDir)
			out = filepath.Join(tmp, "merged-model.safetensors")
			mustRun(t, "forward", "--model", mergedDir, "--input", input, "--out", out)
			checkForwardOut(t, "merged model", out, c)
			ref, got := openST(t, c.Path(c.Ref)), openST(t, filepath.Join(mergedDir, "model.safetensors"))
			merged := 0
			for _, key := range ref.Names() {
				if name, ok := strings.CutPrefix(key, "merged."); ok {
					merged++
					closeTo(t, key, readTensor(t, got, name), readTensor(t, ref, key), tolerance(t, c, key))
				}
			}
			if merged == 0 {
				t.Error("the reference holds no merged weight")
			}
			if stdout := mustRun(t, "inspect-model", mergedDir); !strings.Contains(stdout, c.ModelType) {
				t.Errorf("inspect-model of the merged model:\n%s", stdout)
			}
		})
	}
}

// TestTrainQwen3AndGemma3 trains a tiny Qwen3 and a tiny Gemma 3 (head_dim
// 16, twice hidden/heads; Gemma's sliding layers see 4 positions, shorter
// than the rows) through the command line: OFT with data-parallel
// replicas, OFT with a bfloat16 base and gradient checkpointing, and full
// fine-tuning, whose loss must fall; full fine-tuning moves the q/k norm
// weights; generate runs through the OFT adapter with the KV cache, and
// merge writes a model directory that loads.
func TestTrainQwen3AndGemma3(t *testing.T) {
	for _, arch := range []string{"qwen3", "gemma3_text"} {
		t.Run(arch, func(t *testing.T) { trainArch(t, arch) })
	}
}

func trainArch(t *testing.T, arch string) {
	f := newPipelineFixtureOf(t, arch)
	for _, run := range []struct {
		name string
		args []string
	}{
		{"oft replicas", []string{"--method", "oft", "--replicas", "2"}},
		{"oft bf16 checkpointed", []string{"--method", "oft", "--base-dtype", "bf16", "--gradient-checkpointing"}},
		{"full", []string{"--method", "full", "--learning-rate", "3e-3"}},
	} {
		t.Run(run.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			if code, _, stderr := orthotune(f.trainArgs(out, run.args...)...); code != 0 {
				t.Fatalf("train: exit %d\n%s", code, stderr)
			}
			first, last := metricLosses(t, out)
			t.Logf("training loss %.4f → %.4f", first, last)
			if !(last < 0.7*first) {
				t.Errorf("loss fell only from %.4f to %.4f", first, last)
			}
			if run.args[1] == "full" {
				trained, base := openST(t, filepath.Join(out, "model.safetensors")), openST(t, filepath.Join(f.modelDir, "model.safetensors"))
				name := "model.layers.0.self_attn.q_norm.weight"
				if d := maxAbsDiff(readTensor(t, trained, name).Data, readTensor(t, base, name).Data); d == 0 {
					t.Errorf("full fine-tuning left %s unchanged", name)
				}
				return
			}
			code, stdout, stderr := orthotune("generate", "--model", f.modelDir, "--adapter", out, "--prompt", "say: ", "--max-new-tokens", "8")
			if code != 0 || strings.TrimSpace(stdout) == "" {
				t.Fatalf("generate: exit %d, output %q\n%s", code, stdout, stderr)
			}
			merged := filepath.Join(t.TempDir(), "merged")
			mustRun(t, "merge", "--model", f.modelDir, "--adapter", out, "--out", merged)
			if _, err := os.Stat(filepath.Join(merged, "model.safetensors")); err != nil {
				t.Fatal(err)
			}
			if _, err := model.Load(merged); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func maxAbsDiff(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}
