package study

import (
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// syntheticStudy returns a study shaped like a real one: full, LoRA, OFT
// and COFT, two learning rates and three seeds each, evaluated every 30 of
// 240 steps; task loss falls exponentially, retain loss rises with what is
// learned (more for full and LoRA), and one full run diverges.
func syntheticStudy() []Run {
	methods := []struct {
		name, size string
		params     int
		lrs        []float64
		rate       float64 // learning speed per step at lr 1
		forget     float64 // retain increase per nat learned
		floor      float64
	}{
		{"full", "", 100000, []float64{3e-4, 1e-3}, 25, 1.2, 0.004},
		{"lora", "r=8", 9000, []float64{1e-3, 3e-3}, 6, 0.9, 0.05},
		{"oft", "oft_block_size=32", 8800, []float64{3e-3, 1e-2}, 2, 0.6, 0.07},
		{"coft", "oft_block_size=32", 8800, []float64{3e-3, 1e-2}, 1.6, 0.55, 0.09},
	}
	var runs []Run
	for _, m := range methods {
		for _, lr := range m.lrs {
			for seed := uint64(1); seed <= 3; seed++ {
				jit := 1 + 0.06*(float64(seed)-2)
				r := Run{Method: m.name, Size: m.size, Params: m.params, LearningRate: lr, Seed: seed, Dir: m.name}
				for step := 0; step <= 240; step += 30 {
					task := m.floor + (2.6-m.floor)*math.Exp(-m.rate*lr*float64(step)*jit)
					retain := 0.94 + m.forget*jit*(2.6-task)*(1+0.3*lr/m.lrs[0])
					if m.name == "full" && lr == 1e-3 && seed == 3 && step >= 180 {
						task, retain = math.NaN(), math.NaN()
					}
					r.Points = append(r.Points, Point{Step: step, TaskLoss: task, RetainLoss: retain})
				}
				runs = append(runs, r)
			}
		}
	}
	return runs
}

// checkSVG parses the SVG at path as XML and checks it holds each of want.
func checkSVG(t *testing.T, path string, want []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(strings.NewReader(string(b)))
	var text strings.Builder
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: not XML: %v", path, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
		case xml.CharData:
			text.Write(tok)
			text.WriteByte('\n')
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q, want svg", path, root)
	}
	for _, w := range want {
		if !strings.Contains(text.String(), w) {
			t.Errorf("%s: no text %q", path, w)
		}
	}
}

func TestWriteFrontierSVG(t *testing.T) {
	runs := syntheticStudy()
	a := Analyze(runs)
	path := filepath.Join(t.TempDir(), "frontier.svg")
	if err := WriteFrontierSVG(path, runs, a); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, path, []string{"full fine-tuning", "LoRA r=8", "OFT oft_block_size=32", "COFT oft_block_size=32", "base model",
		"task loss (nats/token)", "retain-loss increase over the base model (nats/token)", "Learning vs forgetting"})
	if dir := os.Getenv("ORTHOTUNE_PLOT_DIR"); dir != "" { // to look at: ORTHOTUNE_PLOT_DIR=/tmp go test -run SVG
		WriteFrontierSVG(filepath.Join(dir, "frontier.svg"), runs, a)
		WriteTrajectoriesSVG(filepath.Join(dir, "trajectories.svg"), runs)
	}
}

func TestWriteTrajectoriesSVG(t *testing.T) {
	runs := syntheticStudy()
	path := filepath.Join(t.TempDir(), "trajectories.svg")
	if err := WriteTrajectoriesSVG(path, runs); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, path, []string{"full fine-tuning", "LoRA r=8 (best lr 0.003, 3 seeds)", "OFT oft_block_size=32", "COFT",
		"task loss (nats/token)", "retain loss (nats/token)", "optimizer step", "base model"})
	// No temporary file is left beside it.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want 1", len(entries))
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "Exact answers") {
		t.Error("an exact-answer panel without exact answers")
	}

	// With exact answers (rising as the task loss falls), a third panel.
	for i := range runs {
		for j := range runs[i].Points {
			rate := math.Min(1, math.Max(0, 1.2-runs[i].Points[j].TaskLoss/2))
			runs[i].Points[j].TaskExact = &rate
		}
	}
	if err := WriteTrajectoriesSVG(path, runs); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, path, []string{"Exact answers on the task", "greedy answers reproduced exactly (%)", "task loss (nats/token)"})
	a := Analyze(runs)
	for _, m := range a.Methods {
		if m.ExactAnswers == nil || m.ExactAnswers.Seeds < 2 || !(m.ExactAnswers.Min <= m.ExactAnswers.Median && m.ExactAnswers.Median <= m.ExactAnswers.Max) {
			t.Errorf("%s: exact answers %+v", m.Method, m.ExactAnswers)
		}
	}
	if !strings.Contains(a.Conclusion, "Exact answers") || !strings.Contains(a.Markdown(), "### Exact answers at the end of training") {
		t.Errorf("conclusion / report lack the exact answers:\n%s", a.Conclusion)
	}
}

func TestWriteSVGEdgeCases(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		runs []Run
	}{
		{"no runs", nil},
		{"one point", []Run{mkRun("oft", 1, 1e-2, [3]float64{0, 2, 1})}},
		{"all diverged", []Run{mkRun("lora", 1, 1, [3]float64{0, 2, 1}, [3]float64{10, math.Inf(1), math.NaN()})}},
		{"unknown method", []Run{threePoint("mystery", 1, 1, 0.5, 0.5, 1), threePoint("oft", 1, 1, 0.2, 0.6, 0.5)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := Analyze(c.runs)
			f, tr := filepath.Join(dir, c.name+"-f.svg"), filepath.Join(dir, c.name+"-t.svg")
			if err := WriteFrontierSVG(f, c.runs, a); err != nil {
				t.Fatalf("frontier: %v", err)
			}
			if err := WriteTrajectoriesSVG(tr, c.runs); err != nil {
				t.Fatalf("trajectories: %v", err)
			}
			checkSVG(t, f, []string{"task loss (nats/token)"})
			checkSVG(t, tr, []string{"retain loss (nats/token)"})
		})
	}
}

func TestWriteSVGBadPath(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "missing", "f.svg")
	if err := WriteFrontierSVG(bad, syntheticStudy(), Analysis{}); err == nil {
		t.Error("frontier into a missing directory: no error")
	}
	if err := WriteTrajectoriesSVG(bad, syntheticStudy()); err == nil {
		t.Error("trajectories into a missing directory: no error")
	}
}
