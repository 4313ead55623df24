package main

import (
	"encoding/json"
	iofs "io/fs"
	"maps"
	"math"
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

// The study's per-layer hyperspherical energies are inspect --model's for
// the same adapters: exact-Cayley OFT keeps them (to float32 rounding),
// LoRA does not.
func TestCompareEnergyAgreesWithInspect(t *testing.T) {
	model := "../../testdata/peft-ref/model/llama"
	dir := filepath.Join(t.TempDir(), "study")
	code, _, stderr := orthotune("compare", "--model", model, "--data", "../../testdata/finetune/count.jsonl",
		"--eval-data", "../../testdata/study/count_eval.jsonl", "--retain-data", "../../testdata/study/retain.jsonl",
		"--output-dir", dir, "--methods", "oft,lora", "--lr", "oft=1e-2", "--lr", "lora=1e-2", "--set", "oft:use-cayley-neumann=false",
		"--seeds", "1", "--steps", "4", "--eval-interval", "2", "--per-device-train-batch-size", "4")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var res study.Result
	if b, err := os.ReadFile(filepath.Join(dir, study.CompareFile)); err != nil || json.Unmarshal(b, &res) != nil {
		t.Fatalf("compare.json: %v", err)
	}
	if len(res.Layers) != 2 {
		t.Fatalf("layer changes of %d methods, want 2", len(res.Layers))
	}
	for _, ml := range res.Layers {
		r := inspectJSON(t, "--model", model, filepath.Join(dir, ml.Dir))
		byModule := map[string]adapterLayer{}
		for _, l := range r.Layers {
			byModule[l.Module] = l
		}
		largest, compared := 0.0, 0
		for _, c := range ml.Layers {
			l, ok := byModule[c.Module]
			if !ok {
				continue // a layer the adapter does not target
			}
			compared++
			if l.EnergyBase == nil || l.EnergyMerged == nil {
				t.Fatalf("%s %s: inspect reports no energies", ml.Method, c.Module)
			}
			for _, pair := range [][2]float64{{c.EnergyBase, *l.EnergyBase}, {c.EnergyTuned, *l.EnergyMerged}} {
				if math.Abs(pair[0]-pair[1]) > 1e-9*math.Abs(pair[1]) {
					t.Errorf("%s %s: compare's energy %.12g, inspect's %.12g", ml.Method, c.Module, pair[0], pair[1])
				}
			}
			largest = max(largest, math.Abs(c.EnergyTuned-c.EnergyBase)/c.EnergyBase)
		}
		if compared == 0 {
			t.Fatalf("%s: no layer in common with inspect", ml.Method)
		}
		switch ml.Method {
		case "oft":
			if largest > 1e-5 {
				t.Errorf("exact-Cayley OFT changed the energy by up to %.3g (relative)", largest)
			}
		case "lora":
			if largest < 1e-5 {
				t.Errorf("LoRA changed the energy by at most %.3g (relative); want a visible change", largest)
			}
		}
		t.Logf("%s: %d layers, largest relative energy change %.3g", ml.Method, compared, largest)
	}
}

// Bad input to a study directory that already holds finished runs: a
// retain set that tokenises to nothing, data with ids outside the model's
// vocabulary, a budget no method matches — each a clear error and exit 1,
// and the finished runs are left as they were.
func TestCompareBadInputLeavesRunsAlone(t *testing.T) {
	model := "../../testdata/peft-ref/model/llama"
	dir := filepath.Join(t.TempDir(), "study")
	good := []string{"--model", model, "--data", "../../testdata/finetune/count.jsonl",
		"--eval-data", "../../testdata/study/count_eval.jsonl", "--retain-data", "../../testdata/study/retain.jsonl",
		"--output-dir", dir, "--methods", "lora", "--lr", "lora=1e-2", "--seeds", "1", "--steps", "2", "--eval-interval", "1",
		"--per-device-train-batch-size", "4"}
	if code, _, stderr := orthotune(append([]string{"compare"}, good...)...); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	snapshot := func() map[string]string {
		files := map[string]string{}
		filepath.WalkDir(dir, func(path string, d iofs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(path)
				files[path] = string(b)
			}
			return nil
		})
		return files
	}
	before := snapshot()
	tmp := t.TempDir()
	blank := filepath.Join(tmp, "blank.jsonl")
	writeText(t, blank, "{\"text\": \"\"}\n")
	outOfVocab := filepath.Join(tmp, "oov.jsonl")
	writeText(t, outOfVocab, "{\"input_ids\": [1, 2, 999999]}\n")
	with := func(flag, value string) []string {
		args := append([]string{"compare"}, good...)
		for i := range args {
			if args[i] == flag {
				args[i+1] = value
			}
		}
		return args
	}
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"retain data with no token", with("--retain-data", blank), []string{"retain data", blank}},
		{"ids outside the vocabulary", with("--data", outOfVocab), []string{outOfVocab, "999999"}},
		{"eval ids outside the vocabulary", with("--eval-data", outOfVocab), []string{outOfVocab, "999999"}},
		{"unreachable budget", append(with("--methods", "lora"), "--budget", "10"), []string{"lora", "nearest"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := orthotune(c.args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("the error does not name %q:\n%s", w, stderr)
				}
			}
			if after := snapshot(); !maps.Equal(before, after) {
				t.Errorf("the refused study changed the directory (%d files before, %d after)", len(before), len(after))
			}
		})
	}
}
