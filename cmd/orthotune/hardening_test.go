package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLongPromptRecordIsDropped: fifty records, one with a prompt longer
// than --max-seq-length (its completion truncated away), one record per
// batch: the run drops that record when reading the data, says so, and
// finishes (it used to stop at the step that drew it with "no target
// tokens" and no checkpoint).
func TestLongPromptRecordIsDropped(t *testing.T) {
	f := newPipelineFixture(t)
	var lines []string
	for i := range 50 {
		prompt := "say: "
		if i == 3 {
			prompt = strings.Repeat("the cat sits on the mat. ", 120) // ~900 tokens
		}
		b, _ := json.Marshal(map[string]string{"prompt": prompt, "completion": fixtureTexts[i%len(fixtureTexts)]})
		lines = append(lines, string(b))
	}
	data := filepath.Join(t.TempDir(), "long.jsonl")
	writeText(t, data, strings.Join(lines, "\n")+"\n")
	out := filepath.Join(t.TempDir(), "run")
	code, _, stderr := orthotune("train", "--model", f.modelDir, "--data", data, "--output-dir", out, "--per-device-train-batch-size", "1",
		"--max-seq-length", "64", "--num-train-epochs", "2", "--validation-split", "0", "--method", "lora", "--learning-rate", "1e-3")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "1 dropped: no target token") {
		t.Errorf("the dropped record is not reported:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "adapter_model.safetensors")); err != nil {
		t.Error(err)
	}
}

// TestConfigFileWrongTypeNamesKey: a settings file with a value of the
// wrong type names the key and the type wanted ("parse error" before).
func TestConfigFileWrongTypeNamesKey(t *testing.T) {
	f := newPipelineFixture(t)
	for key, want := range map[string]string{`"max_steps": "many"`: `"max_steps": want an integer, got "many"`,
		`"coft": 3`: `"coft": want true or false, got 3`, `"learning_rate": "fast"`: `"learning_rate": want a number`} {
		cfg := filepath.Join(t.TempDir(), "cfg.json")
		writeText(t, cfg, "{"+key+"}")
		code, _, stderr := orthotune("train", "--model", f.modelDir, "--data", f.trainData, "--output-dir", filepath.Join(t.TempDir(), "x"), "--config", cfg)
		if code != 1 || !strings.Contains(stderr, want) || strings.Contains(stderr, "parse error") {
			t.Errorf("%s: exit %d, %q; want %q", key, code, stderr, want)
		}
	}
}

// TestNoLitterFromKilledRuns: what a killed checkpoint write and a killed
// merge leave (their .tmp- directories) is removed by the next run over
// the same place.
func TestNoLitterFromKilledRuns(t *testing.T) {
	f := newPipelineFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := orthotune(f.trainArgs(out, "--max-steps", "6", "--save-steps", "3")...); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	os.RemoveAll(filepath.Join(out, "adapter_model.safetensors"))
	stale := filepath.Join(out, ".checkpoint-6.tmp-12345")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := orthotune(f.trainArgs(out, "--max-steps", "6", "--save-steps", "3", "--resume")...); code != 0 {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("the resumed run left the unfinished checkpoint")
	}
	dest := filepath.Join(t.TempDir(), "merged")
	staleMerge := filepath.Join(filepath.Dir(dest), ".merged.tmp-999")
	if err := os.MkdirAll(staleMerge, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(staleMerge, "model.safetensors"), []byte("half"), 0o644)
	if code, _, stderr := orthotune("merge", "--model", f.modelDir, "--adapter", out, "--out", dest); code != 0 {
		t.Fatalf("merge: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(staleMerge); err == nil {
		t.Error("merge left a killed merge's unfinished output")
	}
}

// TestSettingsFileReproducesRun: train_config.json holds every setting
// with paths that work from any directory, and `train --config` of it,
// from another working directory, writes the same adapter byte for byte.
func TestSettingsFileReproducesRun(t *testing.T) {
	f := newPipelineFixture(t)
	first := filepath.Join(t.TempDir(), "first")
	if code, _, stderr := orthotune(f.trainArgs(first, "--method", "lora", "--lora-dropout", "0.1", "--base-dtype", "bf16",
		"--gradient-checkpointing", "--save-total-limit", "2", "--save-steps", "10", "--max-steps", "30")...); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	t.Chdir(t.TempDir())
	second := filepath.Join(t.TempDir(), "second")
	if code, _, stderr := orthotune("train", "--config", filepath.Join(first, "train_config.json"), "--output-dir", second); code != 0 {
		t.Fatalf("from the settings file: exit %d\n%s", code, stderr)
	}
	a, _ := os.ReadFile(filepath.Join(first, "adapter_model.safetensors"))
	b, _ := os.ReadFile(filepath.Join(second, "adapter_model.safetensors"))
	if len(a) == 0 || string(a) != string(b) {
		t.Error("the run from train_config.json wrote a different adapter")
	}
}
