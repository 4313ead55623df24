package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// TestGemma3Commands runs inspect-model, merge (the OFT reference adapter)
// and forward on the merged directory for the tiny Gemma 3 reference, and
// bench --arch gemma3 at a tiny shape.
func TestGemma3Commands(t *testing.T) {
	c, err := testref.LoadModelRef("gemma3/oft")
	if err != nil {
		t.Fatal(err)
	}
	modelDir := c.Path(c.ModelDir)
	var report modelReport
	if err := json.Unmarshal([]byte(mustRun(t, "inspect-model", "--json", modelDir)), &report); err != nil {
		t.Fatal(err)
	}
	if report.ModelType != "gemma3_text" || report.HeadDim != 32 || report.Heads != 4 || report.KVHeads != 1 ||
		!report.TiedEmbeddings || len(report.Linears) != 4*7+1 || !report.Linears[len(report.Linears)-1].Head {
		t.Errorf("inspect-model: %+v", report)
	}

	merged := filepath.Join(t.TempDir(), "merged")
	mustRun(t, "merge", "--model", modelDir, "--adapter", c.Path(c.AdapterDir), "--out", merged)
	ref, err := safetensors.Open(c.Path(c.Ref))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	ids, err := testref.IDs(ref, "input_ids")
	if err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(t.TempDir(), "ids.json")
	data, err := json.Marshal(map[string]any{"input_ids": ids})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(input, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.safetensors")
	mustRun(t, "forward", "--model", merged, "--input", input, "--out", out)
	got, err := safetensors.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	gl, err := got.Float32("logits")
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Float32("logits")
	if err != nil {
		t.Fatal(err)
	}
	tol, err := c.Tolerance("logits")
	if err != nil {
		t.Fatal(err)
	}
	if !gl.SameShape(want) {
		t.Fatalf("merged model's logits have shape %v, reference %v", gl.Shape, want.Shape)
	}
	if d := tensor.MaxAbsDiff(gl.Data, want.Data); d > tol {
		t.Errorf("merged model's logits differ from the adapter reference by %.3g > %.3g", d, tol)
	}

	stdout := mustRun(t, "bench", "--arch", "gemma3", "--layers", "2", "--hidden", "32", "--heads", "4", "--kv-heads", "1",
		"--head-dim", "16", "--intermediate", "48", "--vocab", "64", "--seq", "12", "--batch", "2", "--steps", "2", "--warmup", "1",
		"--method", "oft", "--oft-block-size", "8")
	if n := strings.Count(stdout, "\n"); n != 1 {
		t.Fatalf("bench printed %d lines: %q", n, stdout)
	}
	var r finetune.BenchResult
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.Arch != "gemma3" || !(r.TokensPerS > 0) || r.TrainableParams == 0 || r.TrainableParams >= r.TotalParams {
		t.Errorf("bench: %+v", r)
	}
	if code, _, _ := orthotune("bench", "--arch", "gpt2", "--head-dim", "16", "--steps", "1"); code == 0 {
		t.Error("bench --arch gpt2 --head-dim 16 (GPT-2 heads are hidden/heads wide) succeeded")
	}
}
