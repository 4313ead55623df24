package study

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Analysis is what a study's runs say about learning and forgetting. It is
// computed by Analyze from the runs' evaluation points alone and is
// JSON-serialisable: every float in it is finite (a value that could not be
// measured is left at 0 and flagged by a count or a note).
//
// Task loss and retain loss are mean next-token losses in nats/token. The
// retain-loss increase ("forgetting") of an evaluation point is its retain
// loss minus the base model's; learning is a lower task loss.
type Analysis struct {
	// BaseTaskLoss and BaseRetainLoss are the base model's losses: the
	// median over the runs' step-0 points (they all evaluate the same model).
	BaseTaskLoss   float64 `json:"base_task_loss"`
	BaseRetainLoss float64 `json:"base_retain_loss"`
	// TaskLevels are the task-loss levels at which forgetting is compared
	// ("matched learning"), from the least learning to the most. The last
	// one is the lowest task loss that every method reached in every seed.
	TaskLevels []float64 `json:"task_levels"`
	// ForgetLevels are the retain-loss increases at which learning is
	// compared ("matched forgetting"), from the least forgetting to the
	// most. The last one is the largest increase every method reached in
	// every seed.
	ForgetLevels []float64 `json:"forget_levels"`
	// Methods holds one entry per method, in the order full, LoRA, OFT,
	// COFT, BOFT, HRA, then any others by name.
	Methods []MethodAnalysis `json:"methods"`
	// Comparisons compares each orthogonal method (OFT, COFT, BOFT, HRA)
	// present with each of LoRA and full fine-tuning present, at the last
	// (deepest) task level.
	Comparisons []Comparison `json:"comparisons"`
	// Conclusion is a short summary in words, generated from Comparisons.
	Conclusion string `json:"conclusion"`
	// Notes explain anything left out: diverged runs, methods that never
	// learned, levels some seed did not reach.
	Notes []string `json:"notes,omitempty"`
}

// MethodAnalysis is one method's part of an Analysis.
type MethodAnalysis struct {
	Method string `json:"method"`
	// Size is the method's size setting (distinct values joined by ", ").
	Size   string   `json:"size"`
	Params int      `json:"trainable_params"`
	Runs   int      `json:"runs"`
	Seeds  []uint64 `json:"seeds"`
	// BestTaskLoss is the lowest task loss at any evaluation point of any
	// of the method's runs.
	BestTaskLoss float64 `json:"best_task_loss"`
	// Frontier is the method's learn-versus-forget Pareto frontier over all
	// evaluation points of all its runs (every seed and learning rate): the
	// points that no other point beats on both retain-loss increase and
	// task loss, by increasing retain-loss increase (so decreasing task
	// loss).
	Frontier []FrontierPoint `json:"frontier"`
	// AtMatchedLearning holds the retain-loss increase at each of
	// Analysis.TaskLevels.
	AtMatchedLearning []Matched `json:"at_matched_learning"`
	// AtMatchedForgetting holds the task loss at each of
	// Analysis.ForgetLevels.
	AtMatchedForgetting []Matched `json:"at_matched_forgetting"`
	// ExactAnswers is the share of the task's evaluation records whose
	// answer greedy decoding reproduces exactly, at the end of training,
	// at the method's learning rate with the lowest median final task loss
	// (the one the trajectories show); nil when the task's records have no
	// answers (text data).
	ExactAnswers *ExactAnswers `json:"exact_answers,omitempty"`
}

// ExactAnswers is a method's final exact-answer rate across seeds.
type ExactAnswers struct {
	LearningRate float64 `json:"learning_rate"`
	Seeds        int     `json:"seeds"`
	Median       float64 `json:"median"`
	Min          float64 `json:"min"`
	Max          float64 `json:"max"`
	// Base is the base model's rate (step 0).
	Base float64 `json:"base"`
}

// FrontierPoint is one evaluation point on a method's frontier.
type FrontierPoint struct {
	RetainIncrease float64 `json:"retain_increase"`
	TaskLoss       float64 `json:"task_loss"`
	Step           int     `json:"step"`
	LearningRate   float64 `json:"learning_rate"`
	Seed           uint64  `json:"seed"`
	Dir            string  `json:"dir"`
}

// Matched is one method's measurement at one level, across seeds.
//
// For each seed, each of the method's runs with that seed (one per learning
// rate) is followed along its trajectory to the first point where it
// reaches the level (task loss at or below a task level; retain-loss
// increase at or above a forgetting level), interpolating linearly between
// that evaluation point and the one before. Of the runs that reach the
// level, the seed's value is the best one: the lowest-forgetting run at a
// task level, the lowest task loss at a forgetting level. This is the
// per-seed frontier at the level, so a learning rate that overshoots does
// not penalise the method and every method gets its own best tuning. Median,
// Min and Max are over the seeds that reached the level.
type Matched struct {
	Level float64 `json:"level"`
	// Seeds is the number of the method's seeds, Reached how many of them
	// have a run that reached the level. Median, Min and Max are 0 when
	// Reached is 0.
	Seeds   int         `json:"seeds"`
	Reached int         `json:"seeds_reached"`
	Median  float64     `json:"median"`
	Min     float64     `json:"min"`
	Max     float64     `json:"max"`
	PerSeed []SeedValue `json:"per_seed"`
}

// SeedValue is one seed's value at a level and the run that gave it.
type SeedValue struct {
	Seed         uint64  `json:"seed"`
	Value        float64 `json:"value"`
	LearningRate float64 `json:"learning_rate"`
	Dir          string  `json:"dir"`
}

// Comparison compares the forgetting of an orthogonal method with that of
// a baseline (LoRA or full fine-tuning) at one task-loss level.
type Comparison struct {
	Method    string  `json:"method"`
	Baseline  string  `json:"baseline"`
	TaskLevel float64 `json:"task_level"`
	// Forget is the method's median retain-loss increase, Min and Max its
	// range over Seeds seeds; the Baseline fields are the baseline's.
	Forget            float64 `json:"forget"`
	ForgetMin         float64 `json:"forget_min"`
	ForgetMax         float64 `json:"forget_max"`
	Seeds             int     `json:"seeds"`
	BaselineForget    float64 `json:"baseline_forget"`
	BaselineForgetMin float64 `json:"baseline_forget_min"`
	BaselineForgetMax float64 `json:"baseline_forget_max"`
	BaselineSeeds     int     `json:"baseline_seeds"`
	// Relative is (Forget-BaselineForget)/BaselineForget, negative when the
	// method forgot less; 0 when BaselineForget is not positive.
	Relative float64 `json:"relative"`
	// Verdict is "less" or "more" (the method forgot less or more than the
	// baseline, with the seeds' min–max ranges apart) or "no clear
	// difference" (the ranges overlap).
	Verdict  string `json:"verdict"`
	Sentence string `json:"sentence"`
}

// Verdicts of a Comparison.
const (
	VerdictLess    = "less"
	VerdictMore    = "more"
	VerdictOverlap = "no clear difference"
)

// analysisLevels is how many evenly spaced levels Analyze compares at.
const analysisLevels = 4

// analysisMethodOrder is the order of the well-known methods in an Analysis.
var analysisMethodOrder = []string{"full", "lora", "oft", "coft", "boft", "hra"}

// analysisOrthogonal are those expected to forget less than the baselines.
var analysisOrthogonal = []string{"oft", "coft", "boft", "hra"}

// analysisBaselines are those the orthogonal methods are compared with.
var analysisBaselines = []string{"lora", "full"}

// MethodLabel is how a method is named in text and figures: "LoRA", "OFT",
// "full fine-tuning" and so on; an unknown method keeps its name.
func MethodLabel(method string) string {
	switch strings.ToLower(method) {
	case "full":
		return "full fine-tuning"
	case "lora":
		return "LoRA"
	case "oft":
		return "OFT"
	case "coft":
		return "COFT"
	case "boft":
		return "BOFT"
	case "hra":
		return "HRA"
	}
	return method
}

// traj is one run's valid trajectory: its points in step order up to the
// first one with a non-finite loss, with retain loss turned into retain-loss
// increase.
type traj struct {
	run  *Run
	step []int
	task []float64
	inc  []float64
}

// methodRuns gathers one method's trajectories.
type methodRuns struct {
	name   string
	runs   []*Run
	trajs  []traj
	seeds  []uint64
	bySeed map[uint64][]traj
}

// Analyze computes the learn-versus-forget analysis of a study's runs.
func Analyze(runs []Run) Analysis {
	var a Analysis
	a.TaskLevels = []float64{}
	a.ForgetLevels = []float64{}
	a.Methods = []MethodAnalysis{}
	a.Comparisons = []Comparison{}
	if len(runs) == 0 {
		a.Conclusion = "No runs to analyse."
		return a
	}
	a.BaseTaskLoss, a.BaseRetainLoss = baseLosses(runs)
	if !anFinite(a.BaseTaskLoss) || !anFinite(a.BaseRetainLoss) {
		a.BaseTaskLoss, a.BaseRetainLoss = 0, 0
		a.Conclusion = "No run has a finite base-model (step 0) evaluation; nothing to analyse."
		return a
	}

	methods := groupMethods(runs, a.BaseRetainLoss, &a.Notes)
	a.TaskLevels = taskLevels(methods, a.BaseTaskLoss, &a.Notes)
	a.ForgetLevels = forgetLevels(methods, &a.Notes)

	for _, m := range methods {
		ma := MethodAnalysis{
			Method:       m.name,
			Runs:         len(m.runs),
			Seeds:        m.seeds,
			BestTaskLoss: math.Inf(1),
		}
		var sizes []string
		for _, r := range m.runs {
			if r.Size != "" && !anContains(sizes, r.Size) {
				sizes = append(sizes, r.Size)
			}
			if r.Params > ma.Params {
				ma.Params = r.Params
			}
		}
		ma.Size = strings.Join(sizes, ", ")
		for _, t := range m.trajs {
			for _, y := range t.task {
				ma.BestTaskLoss = math.Min(ma.BestTaskLoss, y)
			}
		}
		if math.IsInf(ma.BestTaskLoss, 1) {
			ma.BestTaskLoss = 0
		}
		ma.Frontier = frontier(m.trajs)
		ma.AtMatchedLearning = make([]Matched, len(a.TaskLevels))
		for i, l := range a.TaskLevels {
			ma.AtMatchedLearning[i] = matchAt(m, l, atTaskLevel)
		}
		ma.AtMatchedForgetting = make([]Matched, len(a.ForgetLevels))
		for i, l := range a.ForgetLevels {
			ma.AtMatchedForgetting[i] = matchAt(m, l, atForgetLevel)
		}
		ma.ExactAnswers = exactAnswers(runs, m.name)
		a.Methods = append(a.Methods, ma)
	}
	a.Comparisons = compareForgetting(a, methods)
	a.Conclusion = analysisConclusion(a)
	return a
}

// exactAnswers returns a method's final exact-answer rates at its best
// learning rate (bestLearningRate), or nil when its runs have none.
func exactAnswers(runs []Run, method string) *ExactAnswers {
	group, lr := bestLearningRate(runs, method)
	var finals, base []float64
	for _, r := range group {
		if len(r.Points) == 0 {
			continue
		}
		if p := r.Points[len(r.Points)-1]; p.TaskExact != nil && anFinite(*p.TaskExact) {
			finals = append(finals, *p.TaskExact)
		}
		if p := r.Points[0]; p.Step == 0 && p.TaskExact != nil && anFinite(*p.TaskExact) {
			base = append(base, *p.TaskExact)
		}
	}
	if len(finals) == 0 {
		return nil
	}
	e := &ExactAnswers{LearningRate: lr, Seeds: len(finals), Median: anMedian(finals)}
	e.Min, e.Max = anMinMax(finals)
	if len(base) > 0 {
		e.Base = anMedian(base)
	}
	return e
}

// baseLosses returns the median task and retain loss of the runs' step-0
// points (or, where no run has one, of their first points).
func baseLosses(runs []Run) (task, retain float64) {
	var ts, rs []float64
	collect := func(stepZeroOnly bool) {
		for _, r := range runs {
			if len(r.Points) == 0 {
				continue
			}
			p := r.Points[0]
			for _, q := range r.Points {
				if q.Step < p.Step {
					p = q
				}
			}
			if stepZeroOnly && p.Step != 0 {
				continue
			}
			if anFinite(p.TaskLoss) && anFinite(p.RetainLoss) {
				ts = append(ts, p.TaskLoss)
				rs = append(rs, p.RetainLoss)
			}
		}
	}
	collect(true)
	if len(ts) == 0 {
		collect(false)
	}
	if len(ts) == 0 {
		return math.NaN(), math.NaN()
	}
	return anMedian(ts), anMedian(rs)
}

// groupMethods sorts the runs into methods (in analysisMethodOrder) and each
// method's into seeds, turning them into trajectories.
func groupMethods(runs []Run, baseRetain float64, notes *[]string) []*methodRuns {
	byName := map[string]*methodRuns{}
	var names []string
	for i := range runs {
		r := &runs[i]
		m := byName[r.Method]
		if m == nil {
			m = &methodRuns{name: r.Method, bySeed: map[uint64][]traj{}}
			byName[r.Method] = m
			names = append(names, r.Method)
		}
		m.runs = append(m.runs, r)
		t := makeTraj(r, baseRetain)
		if len(t.task) < len(r.Points) {
			*notes = append(*notes, fmt.Sprintf("%s (seed %d, learning rate %g): %d of %d evaluation points dropped from the first non-finite loss on (diverged)",
				MethodLabel(r.Method), r.Seed, r.LearningRate, len(r.Points)-len(t.task), len(r.Points)))
		}
		if len(t.task) == 0 {
			continue
		}
		m.trajs = append(m.trajs, t)
		if _, ok := m.bySeed[r.Seed]; !ok {
			m.seeds = append(m.seeds, r.Seed)
		}
		m.bySeed[r.Seed] = append(m.bySeed[r.Seed], t)
	}
	sort.SliceStable(names, func(i, j int) bool {
		oi, oj := analysisMethodRank(names[i]), analysisMethodRank(names[j])
		if oi != oj {
			return oi < oj
		}
		return names[i] < names[j]
	})
	out := make([]*methodRuns, len(names))
	for i, n := range names {
		m := byName[n]
		sort.Slice(m.seeds, func(i, j int) bool { return m.seeds[i] < m.seeds[j] })
		if m.seeds == nil {
			m.seeds = []uint64{}
		}
		out[i] = m
	}
	return out
}

func analysisMethodRank(name string) int {
	for i, n := range analysisMethodOrder {
		if strings.EqualFold(n, name) {
			return i
		}
	}
	return len(analysisMethodOrder)
}

func makeTraj(r *Run, baseRetain float64) traj {
	pts := append([]Point(nil), r.Points...)
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].Step < pts[j].Step })
	t := traj{run: r}
	for _, p := range pts {
		if !anFinite(p.TaskLoss) || !anFinite(p.RetainLoss) {
			break
		}
		t.step = append(t.step, p.Step)
		t.task = append(t.task, p.TaskLoss)
		t.inc = append(t.inc, p.RetainLoss-baseRetain)
	}
	return t
}

// taskLevels picks the task-loss levels for matched learning: evenly
// spaced between the base task loss and the worst of the (method, seed)
// best task losses, that is the lowest level every method reaches in every
// seed. A (method, seed) that never went below the base is left out of the
// choice (with a note), so the others can still be compared.
func taskLevels(methods []*methodRuns, base float64, notes *[]string) []float64 {
	lo, any := math.Inf(-1), false
	for _, m := range methods {
		if !learned(m, base, methods) {
			*notes = append(*notes, fmt.Sprintf("%s barely learned the task (best task loss %.4g, base %.4g): left out of the matched-learning levels and comparisons", MethodLabel(m.name), seedBest(m, m.seeds[0]), base))
			continue
		}
		for _, s := range m.seeds {
			best := math.Inf(1)
			for _, t := range m.bySeed[s] {
				for _, y := range t.task {
					best = math.Min(best, y)
				}
			}
			if !(best < base) {
				*notes = append(*notes, fmt.Sprintf("%s seed %d never went below the base task loss %.4g; left out of the choice of matched-learning levels", MethodLabel(m.name), s, base))
				continue
			}
			lo, any = math.Max(lo, best), true
		}
	}
	if !any {
		*notes = append(*notes, "no run learned the task (task loss never below the base model's); no matched-learning levels")
		return []float64{}
	}
	return analysisSpaced(base, lo)
}

// seedBest is the lowest task loss of any run of m with seed s.
func seedBest(m *methodRuns, s uint64) float64 {
	best := math.Inf(1)
	for _, t := range m.bySeed[s] {
		for _, y := range t.task {
			best = math.Min(best, y)
		}
	}
	return best
}

// learned reports whether m's every seed took the task loss below the base
// by at least a twentieth of the way the best method got: a method that
// barely moves (COFT with a tiny radius) would otherwise pin the matched
// levels at the base model and make every comparison meaningless.
func learned(m *methodRuns, base float64, methods []*methodRuns) bool {
	best := base
	for _, o := range methods {
		for _, s := range o.seeds {
			best = math.Min(best, seedBest(o, s))
		}
	}
	if !(best < base) {
		return false
	}
	for _, s := range m.seeds {
		if !(base-seedBest(m, s) >= (base-best)/20) {
			return false
		}
	}
	return true
}

// forgetLevels picks the retain-loss increases for matched forgetting:
// evenly spaced between 0 and the smallest of the (method, seed) largest
// increases, so every method reaches every level in every seed.
func forgetLevels(methods []*methodRuns, notes *[]string) []float64 {
	hi, any := math.Inf(1), false
	for _, m := range methods {
		for _, s := range m.seeds {
			most := math.Inf(-1)
			for _, t := range m.bySeed[s] {
				for _, x := range t.inc {
					most = math.Max(most, x)
				}
			}
			if !(most > 0) {
				*notes = append(*notes, fmt.Sprintf("%s seed %d never raised the retain loss above the base; left out of the choice of matched-forgetting levels", MethodLabel(m.name), s))
				continue
			}
			hi, any = math.Min(hi, most), true
		}
	}
	if !any {
		*notes = append(*notes, "no run raised the retain loss above the base model's; no matched-forgetting levels")
		return []float64{}
	}
	return analysisSpaced(0, hi)
}

// spaced returns analysisLevels levels from from towards to, evenly spaced,
// excluding from and ending exactly at to.
func analysisSpaced(from, to float64) []float64 {
	out := make([]float64, analysisLevels)
	for k := 1; k <= analysisLevels; k++ {
		out[k-1] = from + (to-from)*float64(k)/analysisLevels
	}
	out[analysisLevels-1] = to
	return out
}

// atTaskLevel returns the retain-loss increase where t first reaches task
// loss level, interpolated between evaluation points, and whether it does.
func atTaskLevel(t traj, level float64) (float64, bool) {
	for i, y := range t.task {
		if y <= level {
			if i == 0 {
				return t.inc[0], true
			}
			f := (t.task[i-1] - level) / (t.task[i-1] - y)
			return t.inc[i-1] + f*(t.inc[i]-t.inc[i-1]), true
		}
	}
	return 0, false
}

// atForgetLevel returns the task loss where t first reaches retain-loss
// increase level, interpolated between evaluation points, and whether it
// does.
func atForgetLevel(t traj, level float64) (float64, bool) {
	for i, x := range t.inc {
		if x >= level {
			if i == 0 {
				return t.task[0], true
			}
			f := (level - t.inc[i-1]) / (x - t.inc[i-1])
			return t.task[i-1] + f*(t.task[i]-t.task[i-1]), true
		}
	}
	return 0, false
}

// matchAt measures method m at level with at, the lowest value over each
// seed's runs, then the median and range over seeds.
func matchAt(m *methodRuns, level float64, at func(traj, float64) (float64, bool)) Matched {
	mt := Matched{Level: level, Seeds: len(m.seeds), PerSeed: []SeedValue{}}
	var vals []float64
	for _, s := range m.seeds {
		var best *SeedValue
		for _, t := range m.bySeed[s] {
			v, ok := at(t, level)
			if !ok || (best != nil && v >= best.Value) {
				continue
			}
			best = &SeedValue{Seed: s, Value: v, LearningRate: t.run.LearningRate, Dir: t.run.Dir}
		}
		if best != nil {
			mt.PerSeed = append(mt.PerSeed, *best)
			vals = append(vals, best.Value)
		}
	}
	mt.Reached = len(vals)
	if len(vals) > 0 {
		mt.Median = anMedian(vals)
		mt.Min, mt.Max = anMinMax(vals)
	}
	return mt
}

// frontier returns the Pareto frontier of all points of trajs, minimising
// both retain-loss increase and task loss, by increasing increase.
func frontier(trajs []traj) []FrontierPoint {
	var all []FrontierPoint
	for _, t := range trajs {
		for i := range t.task {
			all = append(all, FrontierPoint{RetainIncrease: t.inc[i], TaskLoss: t.task[i], Step: t.step[i],
				LearningRate: t.run.LearningRate, Seed: t.run.Seed, Dir: t.run.Dir})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].RetainIncrease != all[j].RetainIncrease {
			return all[i].RetainIncrease < all[j].RetainIncrease
		}
		return all[i].TaskLoss < all[j].TaskLoss
	})
	out := []FrontierPoint{}
	for _, p := range all {
		if len(out) == 0 || p.TaskLoss < out[len(out)-1].TaskLoss {
			out = append(out, p)
		}
	}
	return out
}

// compareForgetting builds the Comparisons: each orthogonal method against
// each baseline at the deepest task loss both reach in every seed (the
// pair's own level, so that a third method learning less does not make the
// comparison shallow). Methods that barely learned are not compared.
func compareForgetting(a Analysis, methods []*methodRuns) []Comparison {
	out := []Comparison{}
	find := func(name string) *methodRuns {
		for _, m := range methods {
			if strings.EqualFold(m.name, name) && learned(m, a.BaseTaskLoss, methods) {
				return m
			}
		}
		return nil
	}
	for _, o := range analysisOrthogonal {
		mo := find(o)
		if mo == nil {
			continue
		}
		for _, b := range analysisBaselines {
			mb := find(b)
			if mb == nil {
				continue
			}
			level := math.Inf(-1)
			for _, m := range []*methodRuns{mo, mb} {
				for _, s := range m.seeds {
					level = math.Max(level, seedBest(m, s))
				}
			}
			om, bm := matchAt(mo, level, atTaskLevel), matchAt(mb, level, atTaskLevel)
			if om.Reached == 0 || bm.Reached == 0 {
				continue
			}
			c := Comparison{
				Method: mo.name, Baseline: mb.name, TaskLevel: level,
				Forget: om.Median, ForgetMin: om.Min, ForgetMax: om.Max, Seeds: om.Reached,
				BaselineForget: bm.Median, BaselineForgetMin: bm.Min, BaselineForgetMax: bm.Max, BaselineSeeds: bm.Reached,
			}
			if c.BaselineForget > 0 {
				c.Relative = (c.Forget - c.BaselineForget) / c.BaselineForget
			}
			switch {
			case c.ForgetMax < c.BaselineForgetMin:
				c.Verdict = VerdictLess
			case c.ForgetMin > c.BaselineForgetMax:
				c.Verdict = VerdictMore
			default:
				c.Verdict = VerdictOverlap
			}
			c.Sentence = comparisonSentence(c)
			out = append(out, c)
		}
	}
	return out
}

// methodName returns the spelling of name used in a's runs.
func analysisMethodName(a Analysis, name string) string {
	for _, m := range a.Methods {
		if strings.EqualFold(m.Method, name) {
			return m.Method
		}
	}
	return name
}

func comparisonSentence(c Comparison) string {
	var how string
	diff := c.Forget - c.BaselineForget
	word := "less"
	if diff > 0 {
		word = "more"
	}
	switch {
	case c.BaselineForget > 0 && diff != 0:
		how = fmt.Sprintf("%.0f%% %s", math.Abs(100*c.Relative), word)
	case diff != 0:
		how = fmt.Sprintf("%.3g nats/token %s", math.Abs(diff), word)
	default:
		how = "as much"
	}
	seeds := fmt.Sprintf("%d seeds", c.Seeds)
	if c.Seeds != c.BaselineSeeds {
		seeds = fmt.Sprintf("%d and %d seeds", c.Seeds, c.BaselineSeeds)
	}
	s := fmt.Sprintf("%s forgot %s than %s (retain-loss increase %.3g vs %.3g nats/token; %s: median, min–max %.3g–%.3g vs %.3g–%.3g)",
		MethodLabel(c.Method), how, MethodLabel(c.Baseline), c.Forget, c.BaselineForget, seeds,
		c.ForgetMin, c.ForgetMax, c.BaselineForgetMin, c.BaselineForgetMax)
	switch c.Verdict {
	case VerdictOverlap:
		s += ", but the seeds' ranges overlap: no clear difference"
	case VerdictMore:
		s += ", contrary to the expectation that orthogonal fine-tuning forgets less"
	}
	return s
}

// conclude writes Analysis.Conclusion.
func analysisConclusion(a Analysis) string {
	if len(a.TaskLevels) == 0 {
		return "No task-loss level was reached by every method, so forgetting could not be compared at matched learning."
	}
	k := len(a.TaskLevels) - 1
	head := fmt.Sprintf("On this task, at matched learning (task loss %.3g nats/token, base model %.3g), ", a.TaskLevels[k], a.BaseTaskLoss)
	if len(a.Comparisons) == 0 {
		// No orthogonal/baseline pair: list each method's forgetting.
		var parts []string
		for _, m := range a.Methods {
			mt := m.AtMatchedLearning[k]
			if mt.Reached == 0 {
				parts = append(parts, fmt.Sprintf("%s did not reach it", MethodLabel(m.Method)))
				continue
			}
			parts = append(parts, fmt.Sprintf("%s raised the retain loss by %.3g nats/token (%d seeds: median, min–max %.3g–%.3g)",
				MethodLabel(m.Method), mt.Median, mt.Reached, mt.Min, mt.Max))
		}
		return head + strings.Join(parts, "; ") + "."
	}
	var parts []string
	var less, more, overlap int
	for _, c := range a.Comparisons {
		parts = append(parts, c.Sentence)
		switch c.Verdict {
		case VerdictLess:
			less++
		case VerdictMore:
			more++
		default:
			overlap++
		}
	}
	s := head + strings.Join(parts, "; ") + "."
	switch {
	case more > 0 && less == 0:
		s += " The measurement contradicts the expectation that orthogonal methods forget less."
	case more > 0:
		s += " The measurement only partly supports the expectation that orthogonal methods forget less."
	case less > 0 && overlap == 0:
		s += " This agrees with the expectation that orthogonal methods forget less."
	case less == 0:
		s += " The measurement neither confirms nor refutes the expectation that orthogonal methods forget less."
	}
	for _, m := range a.Methods {
		if mt := m.AtMatchedLearning[k]; mt.Reached < mt.Seeds {
			s += fmt.Sprintf(" %s reached this level in %d of %d seeds.", MethodLabel(m.Method), mt.Reached, mt.Seeds)
		}
	}
	return s + exactAnswersSentence(a)
}

// exactAnswersSentence says how many task answers each method's best
// learning rate reproduces exactly at the end ("" without answers).
func exactAnswersSentence(a Analysis) string {
	var parts []string
	base := -1.0
	for _, m := range a.Methods {
		if e := m.ExactAnswers; e != nil {
			parts = append(parts, fmt.Sprintf("%s %.0f%% (%.0f–%.0f%%)", MethodLabel(m.Method), 100*e.Median, 100*e.Min, 100*e.Max))
			base = e.Base
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf(" Exact answers to the task's evaluation prompts at the end of training (best learning rate, median and min–max over seeds; base model %.0f%%): %s.",
		100*base, strings.Join(parts, ", "))
}

func anFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func anContains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func anMedian(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func anMinMax(xs []float64) (lo, hi float64) {
	lo, hi = xs[0], xs[0]
	for _, x := range xs[1:] {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}
