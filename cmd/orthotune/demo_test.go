package main

import (
	"github.com/orthotune/orthotune/internal/demo"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The demo's whole path — corpus, tokenizer training, a fresh model,
// pretraining, caching, the OFT fine-tune, evaluation and generation — on
// a few steps. The real run's figures are in the README and BENCHMARKS.
func TestDemoRunsAndCaches(t *testing.T) {
	saved := demoSteps
	demoSteps.pretrain, demoSteps.finetune = 4, 4
	t.Cleanup(func() { demoSteps = saved })
	cache := t.TempDir()
	out := filepath.Join(t.TempDir(), "demo")
	code, stdout, stderr := orthotune("demo", "--cache-dir", cache, "--output-dir", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"task loss", "base-text loss", "correct colours", "with OFT", "with LoRA", "compare"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the report lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "pretraining the base model") {
		t.Errorf("first run did not pretrain:\n%s", stderr)
	}
	for _, name := range []string{"config.json", "model.safetensors", "tokenizer.json", "demo.json"} {
		if _, err := os.Stat(filepath.Join(cache, demo.Version, name)); err != nil {
			t.Error(err)
		}
	}
	for _, a := range []string{"oft-adapter", "lora-adapter"} {
		if _, err := os.Stat(filepath.Join(out, a, "adapter_model.safetensors")); err != nil {
			t.Error(err)
		}
	}
	// The second run reuses the cache; a broken cache is rebuilt. Without
	// --output-dir, runs reuse one directory in the temporary directory
	// instead of leaving one each.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for range 2 {
		code, _, stderr = orthotune("demo", "--cache-dir", cache)
		if code != 0 || !strings.Contains(stderr, "using the pretrained base model cached") {
			t.Fatalf("second run (exit %d) did not use the cache:\n%s", code, stderr)
		}
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 1 || entries[0].Name() != "orthotune-demo" {
		t.Errorf("two demo runs left %v in the temporary directory; want one orthotune-demo", entries)
	}
	if err := os.Remove(filepath.Join(cache, demo.Version, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = orthotune("demo", "--cache-dir", cache, "--output-dir", filepath.Join(t.TempDir(), "third"))
	if code != 0 || !strings.Contains(stderr, "pretraining the base model") {
		t.Fatalf("a broken cache (exit %d) was not rebuilt:\n%s", code, stderr)
	}
}
