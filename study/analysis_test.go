package study

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// mkRun builds a run whose points are {step, task loss, retain loss}.
func mkRun(method string, seed uint64, lr float64, pts ...[3]float64) Run {
	r := Run{Method: method, Size: "s", Params: 100, LearningRate: lr, Seed: seed, Dir: method}
	for _, p := range pts {
		r.Points = append(r.Points, Point{Step: int(p[0]), TaskLoss: p[1], RetainLoss: p[2]})
	}
	return r
}

// threePoint is a run from the base (task 2, retain 1) through task 1 at
// retain increase a to task best at retain increase b.
func threePoint(method string, seed uint64, lr, a, best, b float64) Run {
	return mkRun(method, seed, lr, [3]float64{0, 2, 1}, [3]float64{10, 1, 1 + a}, [3]float64{20, best, 1 + b})
}

// forgetAt06 is threePoint's retain increase where task loss first reaches 0.6.
func forgetAt06(a, best, b float64) float64 { return a + (1-0.6)/(1-best)*(b-a) }

func near(x, y float64) bool { return math.Abs(x-y) < 1e-9 }

func methodOf(t *testing.T, a Analysis, name string) MethodAnalysis {
	t.Helper()
	for _, m := range a.Methods {
		if m.Method == name {
			return m
		}
	}
	t.Fatalf("method %q not in analysis", name)
	return MethodAnalysis{}
}

func TestFrontier(t *testing.T) {
	runs := []Run{
		mkRun("oft", 1, 1e-3, [3]float64{0, 2, 1}, [3]float64{10, 1.5, 1.2}, [3]float64{20, 1.0, 1.6}),
		// step 10 is dominated by the first run's step 10 (more forgetting, less learning)
		mkRun("oft", 1, 3e-3, [3]float64{0, 2, 1}, [3]float64{10, 1.6, 1.5}, [3]float64{20, 0.8, 2.0}),
		// a diverged run: only its base point counts
		mkRun("oft", 2, 1e-2, [3]float64{0, 2, 1}, [3]float64{10, math.NaN(), math.Inf(1)}, [3]float64{20, 0.1, 1.01}),
	}
	a := Analyze(runs)
	want := [][2]float64{{0, 2}, {0.2, 1.5}, {0.6, 1.0}, {1.0, 0.8}}
	f := methodOf(t, a, "oft").Frontier
	if len(f) != len(want) {
		t.Fatalf("frontier %+v, want %v", f, want)
	}
	for i, w := range want {
		if !near(f[i].RetainIncrease, w[0]) || !near(f[i].TaskLoss, w[1]) {
			t.Errorf("frontier[%d] = (%v, %v), want %v", i, f[i].RetainIncrease, f[i].TaskLoss, w)
		}
	}
	if f[3].LearningRate != 3e-3 || f[3].Step != 20 {
		t.Errorf("frontier end %+v: want the 3e-3 run's step 20", f[3])
	}
	if a.BaseTaskLoss != 2 || a.BaseRetainLoss != 1 {
		t.Errorf("base = %v, %v; want 2, 1", a.BaseTaskLoss, a.BaseRetainLoss)
	}
	if m := methodOf(t, a, "oft"); m.BestTaskLoss != 0.8 || m.Runs != 3 || len(m.Seeds) != 2 {
		t.Errorf("oft: best %v runs %d seeds %v", m.BestTaskLoss, m.Runs, m.Seeds)
	}
	if len(a.Notes) == 0 || !strings.Contains(strings.Join(a.Notes, "\n"), "diverged") {
		t.Errorf("notes %q: want the diverged run named", a.Notes)
	}
}

func TestInterpolation(t *testing.T) {
	tr := makeTraj(&Run{Points: []Point{{Step: 0, TaskLoss: 2, RetainLoss: 1}, {Step: 10, TaskLoss: 1, RetainLoss: 2}, {Step: 20, TaskLoss: 0.5, RetainLoss: 4}}}, 1)
	for _, c := range []struct {
		level, want float64
		ok          bool
	}{
		{2.5, 0, true}, // already at the base
		{2, 0, true},
		{1.5, 0.5, true},
		{1, 1, true},
		{0.75, 2, true},
		{0.5, 3, true},
		{0.4, 0, false},
	} {
		got, ok := atTaskLevel(tr, c.level)
		if ok != c.ok || !near(got, c.want) {
			t.Errorf("atTaskLevel(%v) = %v, %v; want %v, %v", c.level, got, ok, c.want, c.ok)
		}
	}
	for _, c := range []struct {
		level, want float64
		ok          bool
	}{
		{0, 2, true},
		{0.5, 1.5, true},
		{2, 0.75, true},
		{3, 0.5, true},
		{3.5, 0, false},
	} {
		got, ok := atForgetLevel(tr, c.level)
		if ok != c.ok || !near(got, c.want) {
			t.Errorf("atForgetLevel(%v) = %v, %v; want %v, %v", c.level, got, ok, c.want, c.ok)
		}
	}
}

// studyRuns returns 3 seeds of lo (which forgets less) and hi (which
// forgets more), reaching the levels 1.65, 1.3, 0.95 and 0.6 (the worst
// best task loss is hi's seed 1, 0.6).
func studyRuns(lo, hi string) []Run {
	return []Run{
		threePoint(lo, 1, 1e-2, 0.5, 0.5, 1.0),
		threePoint(lo, 2, 1e-2, 0.5, 0.5, 1.1),
		threePoint(lo, 3, 1e-2, 0.5, 0.5, 0.9),
		// another learning rate: seed 1 forgets more, so it is not the one chosen;
		// seed 2 forgets less but never reaches 0.6, so only counts at higher levels
		threePoint(lo, 1, 3e-2, 0.5, 0.3, 5),
		threePoint(lo, 2, 3e-3, 0.1, 0.9, 0.2),
		threePoint(hi, 1, 1e-3, 1, 0.6, 2),
		threePoint(hi, 2, 1e-3, 1, 0.5, 2),
		threePoint(hi, 3, 1e-3, 1, 0.4, 2),
	}
}

func TestMatchedLevels(t *testing.T) {
	a := Analyze(studyRuns("oft", "lora"))
	wantLevels := []float64{1.65, 1.3, 0.95, 0.6}
	if len(a.TaskLevels) != len(wantLevels) {
		t.Fatalf("task levels %v, want %v", a.TaskLevels, wantLevels)
	}
	for i, w := range wantLevels {
		if !near(a.TaskLevels[i], w) {
			t.Errorf("task level %d = %v, want %v", i, a.TaskLevels[i], w)
		}
	}
	if got := a.TaskLevels[3]; got != 0.6 {
		t.Errorf("deepest level %v, want exactly 0.6", got)
	}
	// Order: LoRA before OFT.
	if a.Methods[0].Method != "lora" || a.Methods[1].Method != "oft" {
		t.Errorf("method order %s, %s", a.Methods[0].Method, a.Methods[1].Method)
	}
	for _, c := range []struct {
		method string
		seeds  []float64 // retain increase at 0.6, by seed
		median float64
	}{
		{"oft", []float64{forgetAt06(0.5, 0.5, 1.0), forgetAt06(0.5, 0.5, 1.1), forgetAt06(0.5, 0.5, 0.9)}, 0.9},
		{"lora", []float64{2, forgetAt06(1, 0.5, 2), forgetAt06(1, 0.4, 2)}, 1.8},
	} {
		m := methodOf(t, a, c.method).AtMatchedLearning[3]
		if m.Reached != 3 || m.Seeds != 3 || len(m.PerSeed) != 3 {
			t.Fatalf("%s at 0.6: %+v", c.method, m)
		}
		for i, w := range c.seeds {
			if !near(m.PerSeed[i].Value, w) {
				t.Errorf("%s seed %d at 0.6 = %v, want %v", c.method, m.PerSeed[i].Seed, m.PerSeed[i].Value, w)
			}
		}
		lo, hi := anMinMax(c.seeds)
		if !near(m.Median, c.median) || !near(m.Min, lo) || !near(m.Max, hi) {
			t.Errorf("%s at 0.6: median %v [%v, %v], want %v [%v, %v]", c.method, m.Median, m.Min, m.Max, c.median, lo, hi)
		}
	}
	// At level 1.3 OFT seed 2's 3e-3 run (less forgetting) is chosen.
	m := methodOf(t, a, "oft").AtMatchedLearning[1]
	if m.PerSeed[1].LearningRate != 3e-3 || !near(m.PerSeed[1].Value, 0.1*0.7) {
		t.Errorf("oft seed 2 at 1.3: %+v, want the 3e-3 run at 0.07", m.PerSeed[1])
	}
	if m := methodOf(t, a, "oft").AtMatchedLearning[3]; m.PerSeed[0].LearningRate != 1e-2 {
		t.Errorf("oft seed 1 at 0.6: %+v, want the 1e-2 run (less forgetting)", m.PerSeed[0])
	}

	// Matched forgetting: levels up to the smallest largest increase, OFT seed 3's 0.9.
	if n := len(a.ForgetLevels); n != 4 || !near(a.ForgetLevels[3], 0.9) || !near(a.ForgetLevels[1], 0.45) {
		t.Fatalf("forget levels %v", a.ForgetLevels)
	}
	// OFT seed 1 at 0.45: runs 1e-2 (task 2-0.9 = 1.1) and 3e-2 (same) → 1.1.
	// LoRA at 0.45: every seed 2-0.45 = 1.55.
	if m := methodOf(t, a, "oft").AtMatchedForgetting[1]; !near(m.PerSeed[0].Value, 1.1) {
		t.Errorf("oft seed 1 at forgetting 0.45: %+v, want 1.1", m.PerSeed[0])
	}
	if m := methodOf(t, a, "lora").AtMatchedForgetting[1]; !near(m.Median, 1.55) || !near(m.Min, 1.55) || !near(m.Max, 1.55) {
		t.Errorf("lora at forgetting 0.45: %+v, want 1.55", m)
	}
}

func TestConclusion(t *testing.T) {
	overlap := studyRuns("oft", "lora")
	// LoRA seed 3 now forgets as little as OFT: the ranges overlap.
	overlap[7] = threePoint("lora", 3, 1e-3, 0.3, 0.4, 0.8)
	for _, c := range []struct {
		name    string
		runs    []Run
		verdict string
		want    []string
		not     []string
	}{
		{"oft forgets less", studyRuns("oft", "lora"), VerdictLess,
			[]string{"On this task, at matched learning (task loss 0.6 nats/token", "OFT forgot 50% less than LoRA", "3 seeds: median, min–max 0.82–0.98 vs 1.67–2", "agrees with the expectation"},
			[]string{"contrary", "contradicts", "no clear difference"}},
		{"lora forgets less", studyRuns("lora", "oft"), VerdictMore,
			[]string{"OFT forgot 100% more than LoRA", "contrary to the expectation", "contradicts the expectation"},
			[]string{"agrees", "no clear difference"}},
		{"spreads overlap", overlap, VerdictOverlap,
			[]string{"OFT forgot", "no clear difference"},
			[]string{"agrees", "contrary", "contradicts the"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := Analyze(c.runs)
			if len(a.Comparisons) != 1 {
				t.Fatalf("comparisons %+v", a.Comparisons)
			}
			cmp := a.Comparisons[0]
			if cmp.Method != "oft" || cmp.Baseline != "lora" || cmp.Verdict != c.verdict {
				t.Errorf("comparison %+v, want verdict %q", cmp, c.verdict)
			}
			for _, w := range c.want {
				if !strings.Contains(a.Conclusion, w) {
					t.Errorf("conclusion lacks %q:\n%s", w, a.Conclusion)
				}
			}
			for _, w := range c.not {
				if strings.Contains(a.Conclusion, w) {
					t.Errorf("conclusion has %q:\n%s", w, a.Conclusion)
				}
			}
		})
	}
}

// A method that never learns (full fine-tuning diverging at once) is left
// out of the choice of levels, never reaches them, and says so.
func TestLevelNeverReached(t *testing.T) {
	runs := studyRuns("oft", "lora")
	runs = append(runs, threePoint("coft", 1, 1e-2, 0.2, 0.55, 0.5))
	for s := uint64(1); s <= 2; s++ {
		runs = append(runs, mkRun("full", s, 1e-4, [3]float64{0, 2, 1}, [3]float64{10, math.NaN(), math.NaN()}))
	}
	a := Analyze(runs)
	if got := a.TaskLevels[len(a.TaskLevels)-1]; got != 0.6 {
		t.Errorf("deepest level %v, want 0.6 (full left out)", got)
	}
	full := methodOf(t, a, "full")
	for _, m := range full.AtMatchedLearning {
		if m.Reached != 0 || m.Seeds != 2 || m.Median != 0 || len(m.PerSeed) != 0 {
			t.Errorf("full at %v: %+v, want not reached", m.Level, m)
		}
	}
	if a.Methods[0].Method != "full" || a.Methods[3].Method != "coft" {
		t.Errorf("order: %s … %s", a.Methods[0].Method, a.Methods[3].Method)
	}
	// OFT and COFT against LoRA only.
	if len(a.Comparisons) != 2 || a.Comparisons[0].Method != "oft" || a.Comparisons[1].Method != "coft" ||
		a.Comparisons[1].Seeds != 1 || a.Comparisons[1].BaselineSeeds != 3 {
		t.Errorf("comparisons %+v", a.Comparisons)
	}
	for _, w := range []string{"full fine-tuning reached this level in 0 of 2 seeds", "COFT forgot", "1 and 3 seeds"} {
		if !strings.Contains(a.Conclusion, w) {
			t.Errorf("conclusion lacks %q:\n%s", w, a.Conclusion)
		}
	}
	notes := strings.Join(a.Notes, "\n")
	if !strings.Contains(notes, "full fine-tuning barely learned the task") {
		t.Errorf("notes:\n%s", notes)
	}
	if _, err := json.Marshal(a); err != nil {
		t.Errorf("marshal: %v", err)
	}
}

func TestAnalyzeDegenerate(t *testing.T) {
	for _, c := range []struct {
		name string
		runs []Run
		want string
	}{
		{"no runs", nil, "No runs"},
		{"no base", []Run{mkRun("oft", 1, 1, [3]float64{0, math.NaN(), 1})}, "No run has a finite base"},
		{"nothing learned", []Run{mkRun("oft", 1, 1, [3]float64{0, 2, 1}, [3]float64{10, 2.5, 1.5})}, "No task-loss level"},
		{"one method", []Run{threePoint("lora", 1, 1, 0.5, 0.5, 1)}, "LoRA raised the retain loss by 1 nats/token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := Analyze(c.runs)
			if !strings.Contains(a.Conclusion, c.want) {
				t.Errorf("conclusion %q, want %q", a.Conclusion, c.want)
			}
			b, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			var back Analysis
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "null") {
				t.Errorf("JSON has null: %s", b)
			}
		})
	}
}

func TestAnalysisJSONRoundTrip(t *testing.T) {
	a := Analyze(studyRuns("oft", "lora"))
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back Analysis
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if string(b) != string(b2) {
		t.Errorf("round trip changed the JSON")
	}
	for _, key := range []string{`"task_levels"`, `"at_matched_learning"`, `"frontier"`, `"conclusion"`, `"seeds_reached"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

// TestBarelyLearningMethodDoesNotPinLevels: a method that barely moves the
// task loss (COFT with a tiny radius) is left out of the matched levels and
// the comparisons, with a note, so OFT and LoRA are still compared at the
// depth they both reach rather than at the base model.
func TestBarelyLearningMethodDoesNotPinLevels(t *testing.T) {
	runs := studyRuns("oft", "lora")
	for s := uint64(1); s <= 3; s++ {
		runs = append(runs, mkRun("coft", s, 1e-2, [3]float64{0, 2, 1}, [3]float64{10, 1.999, 1.0001}, [3]float64{20, 1.998, 1.0002}))
	}
	a := Analyze(runs)
	if deepest := a.TaskLevels[len(a.TaskLevels)-1]; deepest > 1 {
		t.Errorf("deepest matched level %v: pinned near the base by COFT", deepest)
	}
	for _, c := range a.Comparisons {
		if c.Method == "coft" {
			t.Errorf("COFT compared although it barely learned: %+v", c)
		}
		if c.TaskLevel > 1 {
			t.Errorf("%s vs %s compared at task loss %v, near the base", c.Method, c.Baseline, c.TaskLevel)
		}
	}
	if len(a.Comparisons) == 0 {
		t.Fatal("no comparison of OFT and LoRA")
	}
	if !strings.Contains(strings.Join(a.Notes, "\n"), "COFT barely learned the task") {
		t.Errorf("notes do not say COFT barely learned:\n%s", strings.Join(a.Notes, "\n"))
	}
}
