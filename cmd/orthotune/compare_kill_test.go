//go:build unix

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orthotune/orthotune/study"
)

// A compare killed with SIGKILL in the middle of a run and started again
// finishes with the compare.json of an uninterrupted one.
func TestCompareKilledResumes(t *testing.T) {
	args := func(dir string) []string {
		return []string{"compare", "--model", "../../testdata/peft-ref/model/llama", "--data", "../../testdata/finetune/count.jsonl",
			"--eval-data", "../../testdata/study/count_eval.jsonl", "--retain-data", "../../testdata/study/retain.jsonl",
			"--output-dir", dir, "--methods", "oft,full", "--lr", "oft=1e-2", "--lr", "full=1e-3", "--seeds", "2",
			"--steps", "300", "--eval-interval", "50", "--per-device-train-batch-size", "4"}
	}
	whole := filepath.Join(t.TempDir(), "whole")
	if code, _, stderr := orthotune(args(whole)...); code != 0 {
		t.Fatalf("uninterrupted: exit %d\n%s", code, stderr)
	}
	want, err := os.ReadFile(filepath.Join(whole, study.CompareFile))
	if err != nil {
		t.Fatal(err)
	}

	cut := filepath.Join(t.TempDir(), "cut")
	var stdout bytes.Buffer
	cmd, lines := orthotuneProcess(t, &stdout, args(cut)...)
	second := filepath.Join(cut, "runs", "oft-32-lr0.01-s2")
	killed := false
	for lines.Scan() {
		if strings.Contains(lines.Text(), "compare: run 2/") {
			deadline := time.Now().Add(time.Minute)
			for lastStep(second) < 60 && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			t.Logf("killed at step %d of the second run", lastStep(second))
			killed = true
			break
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("the study ended before it could be killed:\n%s", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(second, study.MarkerFile)); err == nil {
		t.Log("the second run finished before the kill; the resume is of the evaluation only")
	}
	if code, _, stderr := orthotune(args(cut)...); code != 0 {
		t.Fatalf("resumed: exit %d\n%s", code, stderr)
	}
	got, err := os.ReadFile(filepath.Join(cut, study.CompareFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the killed and resumed study's compare.json differs from the uninterrupted one's")
	}
}
