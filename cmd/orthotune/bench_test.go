package main

import (
	"encoding/json"
	"github.com/orthotune/orthotune/finetune"
	"strings"
	"testing"
)

func TestBenchPrintsOneJSONLine(t *testing.T) {
	for _, c := range []struct {
		args      []string
		trainable func(r finetune.BenchResult) bool
	}{
		{[]string{"--method", "oft", "--oft-block-size", "8"}, func(r finetune.BenchResult) bool { return r.TrainableParams > 0 && r.TrainableParams < r.TotalParams }},
		{[]string{"--method", "lora", "--lora-r", "2"}, func(r finetune.BenchResult) bool { return r.TrainableParams > 0 && r.TrainableParams < r.TotalParams }},
		{[]string{"--method", "full", "--arch", "gpt2"}, func(r finetune.BenchResult) bool { return r.TrainableParams == r.TotalParams }},
		{[]string{"--method", "oft", "--oft-block-size", "4", "--arch", "qwen3", "--head-dim", "12", "--gradient-checkpointing"}, func(r finetune.BenchResult) bool {
			return r.Arch == "qwen3" && r.HeadDim == 12 && r.Checkpointing && r.TrainableParams > 0 && r.TrainableParams < r.TotalParams
		}},
	} {
		args := append([]string{"bench", "--layers", "1", "--hidden", "32", "--heads", "4", "--kv-heads", "2", "--intermediate", "48",
			"--vocab", "64", "--seq", "16", "--batch", "2", "--steps", "3", "--warmup", "1"}, c.args...)
		code, stdout, stderr := orthotune(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, stderr)
		}
		if n := strings.Count(stdout, "\n"); n != 1 {
			t.Fatalf("%d lines: %q", n, stdout)
		}
		var r finetune.BenchResult
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatal(err)
		}
		if !(r.TokensPerS > 0 && r.TokensPerSMedianStep > 0 && r.StepMsMedian > 0 && r.PeakRSSMiB > 0 && r.Gemm != "" && r.Steps == 3) || !c.trainable(r) {
			t.Errorf("%v: %+v", c.args, r)
		}
	}
	if code, _, _ := orthotune("bench", "--hidden", "30", "--heads", "4"); code != 2 {
		t.Errorf("hidden not a multiple of heads: exit %d, want 2", code)
	}
	if code, _, stderr := orthotune("bench", "--hidden", "30", "--heads", "4", "--head-dim", "-1"); code != 2 || !strings.Contains(stderr, "--head-dim") {
		t.Errorf("negative head dim: exit %d, want 2 and a message naming --head-dim: %s", code, stderr)
	}
}
