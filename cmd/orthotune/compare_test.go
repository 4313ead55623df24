package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/study"
)

// compare on a user's model and data, end to end: the table, the files,
// and --plan's command lines run through `train` and collected.
func TestCompareUserModel(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "study")
	args := []string{"compare", "--model", "../../testdata/peft-ref/model/llama", "--data", "../../testdata/finetune/count.jsonl",
		"--eval-data", "../../testdata/study/count_eval.jsonl", "--retain-data", "../../testdata/study/retain.jsonl",
		"--output-dir", dir, "--methods", "full,lora", "--lr", "full=1e-3", "--lr", "lora=3e-3", "--seeds", "2",
		"--steps", "4", "--eval-interval", "2", "--per-device-train-batch-size", "4"}
	code, stdout, stderr := orthotune(args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"full", "lora", "r=8", "task loss", "retain Δ loss", study.CompareFile} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the table lacks %q:\n%s", want, stdout)
		}
	}
	var res study.Result
	b, err := os.ReadFile(filepath.Join(dir, study.CompareFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 4 {
		t.Fatalf("%d runs, want 4", len(res.Runs))
	}

	// The same study planned in a new directory: train its lines with the
	// train command, then collect them; the numbers are the same.
	planned := filepath.Join(t.TempDir(), "planned")
	pargs := append(append([]string(nil), args...), "--plan")
	for i, a := range pargs {
		if a == dir {
			pargs[i] = planned
		}
	}
	code, stdout, stderr = orthotune(pargs...)
	if code != 0 {
		t.Fatalf("--plan: exit %d\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 4 {
		t.Fatalf("--plan printed %d lines, want 4:\n%s", len(lines), stdout)
	}
	for _, l := range lines {
		f := strings.Fields(l)
		i := 0
		for i < len(f) && f[i] != "train" {
			i++
		}
		if i == len(f) || !strings.HasSuffix(strings.Join(f[:i], " "), "orthotune") {
			t.Fatalf("plan line %q", l)
		}
		if code, _, stderr := orthotune(f[i:]...); code != 0 {
			t.Fatalf("%s: exit %d\n%s", l, code, stderr)
		}
	}
	cargs := append(append([]string(nil), pargs[:len(pargs)-1]...), "--collect")
	if code, _, stderr = orthotune(cargs...); code != 0 {
		t.Fatalf("--collect: exit %d\n%s", code, stderr)
	}
	b2, err := os.ReadFile(filepath.Join(planned, study.CompareFile))
	if err != nil {
		t.Fatal(err)
	}
	var res2 study.Result
	if err := json.Unmarshal(b2, &res2); err != nil {
		t.Fatal(err)
	}
	if len(res2.Missing) != 0 || len(res2.Runs) != 4 {
		t.Fatalf("collected %d runs, missing %v", len(res2.Runs), res2.Missing)
	}
	for i := range res.Runs {
		a, b := res.Runs[i], res2.Runs[i]
		if a.Dir != b.Dir || len(a.Points) != len(b.Points) {
			t.Fatalf("run %d: %+v vs %+v", i, a, b)
		}
		for j := range a.Points {
			if a.Points[j] != b.Points[j] {
				t.Errorf("%s point %d: compare %+v, train lines %+v", a.Dir, j, a.Points[j], b.Points[j])
			}
		}
	}
}

// Half the data flags is a usage error.
func TestCompareUsage(t *testing.T) {
	code, _, stderr := orthotune("compare", "--model", "x")
	if code != 2 || !strings.Contains(stderr, "go together") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
}

// compare with no data flags runs the built-in study on the demo's base
// model (here on a few steps and two methods).
func TestCompareBuiltin(t *testing.T) {
	saved := builtinStudy
	builtinStudy.steps, builtinStudy.interval, builtinStudy.pretrain = 4, 2, 4
	t.Cleanup(func() { builtinStudy = saved })
	dir := filepath.Join(t.TempDir(), "study")
	code, stdout, stderr := orthotune("compare", "--cache-dir", t.TempDir(), "--output-dir", dir, "--methods", "full,oft,coft", "--seeds", "1",
		"--lr", "full=1e-3", "--lr", "oft=1e-2", "--lr", "coft=1e-2")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"oft_block_size=32", "coft", "full", "retain Δ loss"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the table lacks %q:\n%s", want, stdout)
		}
	}
	report, err := os.ReadFile(filepath.Join(dir, study.ReportFile))
	if err != nil || !strings.Contains(string(report), "| oft | oft_block_size=32 |") {
		t.Errorf("report.md: %v\n%s", err, report)
	}
	// The demo's task is prompt/completion: every point counts the exact
	// answers, and the table, the report and the trajectories show them.
	var res study.Result
	if b, err := os.ReadFile(filepath.Join(dir, study.CompareFile)); err != nil || json.Unmarshal(b, &res) != nil {
		t.Fatalf("compare.json: %v", err)
	}
	for _, r := range res.Runs {
		for _, p := range r.Points {
			if p.TaskExact == nil || *p.TaskExact < 0 || *p.TaskExact > 1 {
				t.Fatalf("%s step %d: exact answers %v, want a rate", r.Dir, p.Step, p.TaskExact)
			}
		}
	}
	if !strings.Contains(stdout, "%") || !strings.Contains(string(report), "Exact answers at the end of training") {
		t.Errorf("no exact answers in the table or the report:\n%s\n%s", stdout, report)
	}
	if svg, err := os.ReadFile(filepath.Join(dir, study.TrajectoriesFile)); err != nil || !strings.Contains(string(svg), "Exact answers") {
		t.Errorf("trajectories.svg has no exact-answer panel: %v", err)
	}
}
