package study

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/internal/atomicfile"
	"github.com/orthotune/orthotune/internal/runlock"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/train"
)

// Files in a study directory and in each run's directory.
const (
	StudyFile   = "study.json"   // the study's settings, fixed at its first start
	CompareFile = "compare.json" // the result
	CSVFile     = "compare.csv"  // one row per run and evaluation point
	ReportFile  = "report.md"
	RunsDir     = "runs"
	MarkerFile  = "study_run.json" // in a run directory: the finished run with its points
)

// Result is what a study measured (compare.json).
type Result struct {
	Settings Config `json:"settings"`
	// Budget is the trainable-parameter budget the sizes were matched to.
	Budget int `json:"budget"`
	// Sizes are the sizes chosen per method, skipped ones with the reason.
	Sizes []Size `json:"sizes"`
	// Base is the base model's evaluation (step 0 of every run).
	Base Point `json:"base"`
	// Runs are every finished run, in the order of the settings (method,
	// learning rate, seed).
	Runs []Run `json:"runs"`
	// Missing are the run directories not finished yet (Options.Collect).
	Missing []string `json:"missing,omitempty"`
	// Analysis is the learn-versus-forget analysis of Runs (Analyze).
	Analysis Analysis `json:"analysis"`
	// Layers is each method's best run's per-layer change of hyperspherical
	// energy and weight norm.
	Layers []MethodLayers `json:"layer_changes"`
}

// Options control how Compare runs a study.
type Options struct {
	// Log receives progress lines: the run being trained and the study's
	// ETA (nil: none).
	Log io.Writer
	// Reporter, if set, makes the reporter of each training run.
	Reporter func() finetune.Reporter
	// Collect only gathers the runs that have finished (trained by
	// `orthotune train` command lines from Plan, say) and trains none;
	// the others are listed in Result.Missing.
	Collect bool
	// Poll is how often Compare looks again at runs other processes are
	// training (0: every 10 s).
	Poll time.Duration
}

// plannedRun is one run of the study and the job that trains it.
type plannedRun struct {
	run       Run
	size      Size
	modelType string // the model's model_type (default targets)
}

// resolved returns the config with the methods, every method's grid and
// its default settings (DefaultSettings, under the study's own) filled in,
// as study.json records it.
func (c Config) resolved() Config {
	c.Methods = append([]string(nil), c.methods()...)
	lrs := map[string][]float64{}
	for _, m := range c.Methods {
		lrs[m] = append([]float64(nil), c.learningRates(m)...)
	}
	c.LearningRates = lrs
	settings := map[string]map[string]string{}
	for _, m := range c.Methods {
		for _, values := range []map[string]string{DefaultSettings(m), c.Settings[m]} {
			for k, v := range values {
				if settings[m] == nil {
					settings[m] = map[string]string{}
				}
				settings[m][k] = v
			}
		}
	}
	c.Settings = nil
	if len(settings) > 0 {
		c.Settings = settings
	}
	return c
}

// runName is a run's directory name: <method>[-<size>]-lr<lr>-s<seed>.
func runName(s Size, lr float64, seed uint64) string {
	parts := []string{s.Method}
	if t := s.tag(); t != "" {
		parts = append(parts, t)
	}
	parts = append(parts, "lr"+strconv.FormatFloat(lr, 'g', -1, 64), "s"+strconv.FormatUint(seed, 10))
	return strings.Join(parts, "-")
}

// prepare validates cfg, loads the model, settles the budget and the
// sizes, and lists the runs.
func prepare(cfg Config) (Config, int, []Size, []plannedRun, error) {
	if err := cfg.Validate(); err != nil {
		return cfg, 0, nil, nil, err
	}
	cfg = cfg.resolved()
	m, err := model.Load(cfg.Model)
	if err != nil {
		return cfg, 0, nil, nil, err
	}
	budget := cfg.Budget
	if budget == 0 {
		if budget, err = DefaultBudget(m, cfg.TargetModules); err != nil {
			return cfg, 0, nil, nil, err
		}
	}
	sizes, err := MatchBudget(m, cfg.Methods, budget, cfg.Tolerance, cfg.TargetModules, cfg.Settings)
	if err != nil {
		return cfg, 0, nil, nil, fmt.Errorf("study: %w", err)
	}
	var runs []plannedRun
	for _, s := range sizes {
		if s.Skipped != "" {
			continue
		}
		for _, lr := range cfg.LearningRates[s.Method] {
			for seed := uint64(1); seed <= uint64(cfg.Seeds); seed++ {
				name := runName(s, lr, seed)
				runs = append(runs, plannedRun{size: s, modelType: m.Info().ModelType, run: Run{Method: s.Method, Size: s.Setting, Params: s.Params,
					LearningRate: lr, Seed: seed, Dir: filepath.Join(RunsDir, name)}})
			}
		}
	}
	if len(runs) == 0 {
		var why []string
		for _, s := range sizes {
			why = append(why, s.Method+": "+s.Skipped)
		}
		return cfg, 0, nil, nil, fmt.Errorf("study: no method can be trained at a budget of %d parameters (%s)", budget, strings.Join(why, "; "))
	}
	return cfg, budget, sizes, runs, nil
}

// job returns the finetune job of a run in the study directory.
func (c Config) job(p plannedRun) (finetune.Job, error) {
	j := finetune.NewJob(c.Model, c.Data, filepath.Join(c.OutputDir, p.run.Dir))
	j.EvalData, j.MaxSeqLength, j.EvalBatchSize, j.Replicas = c.EvalData, c.MaxSeqLength, c.EvalBatchSize, c.Replicas
	j.Name = filepath.Base(p.run.Dir)
	t := &j.Training
	t.LearningRate, t.MaxSteps, t.WarmupSteps, t.LRSchedulerType = p.run.LearningRate, c.Steps, c.WarmupSteps, c.Scheduler
	t.BatchSize, t.SaveSteps, t.SaveTotalLimit, t.EvalSteps, t.LoggingSteps, t.Seed = c.BatchSize, c.EvalInterval, 0, 0, 1, p.run.Seed
	if p.run.Method != finetune.FullMethod {
		flags := append(extraFlags(c.Settings, p.run.Method), p.size.Flags...)
		cfg, _, err := adapterConfig(p.run.Method, flags, c.TargetModules, p.modelType)
		if err != nil {
			return j, err
		}
		j.Adapter = cfg
	}
	return j, nil
}

// Compare runs the study cfg describes in cfg.OutputDir: it chooses each
// method's size, trains every run not finished yet (resuming one that was
// stopped), evaluates every checkpoint on the task and the retain data,
// and writes compare.json, compare.csv and report.md. Finished runs are
// reused, so a killed Compare started again carries on, and finishes with
// the same compare.json as an uninterrupted one. Runs other processes are
// training (their directories locked) are waited for, polling every
// opt.Poll, and trained here if their process stops without finishing
// them; with opt.Collect they are listed as missing.
func Compare(ctx context.Context, cfg Config, opt Options) (*Result, error) {
	log := opt.Log
	if log == nil {
		log = io.Discard
	}
	cfg, budget, sizes, runs, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	// Inputs are checked before anything is written.
	base, taskBatches, retainBatches, err := loadInputs(cfg)
	if err != nil {
		return nil, err
	}
	if err := claimDir(cfg); err != nil {
		return nil, err
	}
	basePoint, err := evaluate(base, 0, taskBatches, retainBatches)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "compare: budget %d trainable parameters (±%.0f%%)\n", budget, 100*cfg.Tolerance)
	for _, s := range sizes {
		switch {
		case s.Skipped != "":
			fmt.Fprintf(log, "compare:   %-6s skipped: %s\n", s.Method, s.Skipped)
		case s.Setting == "":
			fmt.Fprintf(log, "compare:   %-6s %d parameters (every weight)\n", s.Method, s.Params)
		default:
			fmt.Fprintf(log, "compare:   %-6s %-40s %d parameters (%+.1f%%)\n", s.Method, s.Setting, s.Params, 100*(float64(s.Params)/float64(budget)-1))
		}
	}

	res := &Result{Settings: cfg, Budget: budget, Sizes: sizes, Base: basePoint}
	done := make([]*Run, len(runs))
	todo := 0
	for i, p := range runs {
		if r, err := readMarker(cfg, p); err == nil {
			done[i] = r
		} else {
			todo++
		}
	}
	var trained int
	var trainTime time.Duration
	// finish evaluates run i, training it first (or resuming it) unless it
	// finished; it returns a *runlock.BusyError when another process —
	// here or on a machine sharing the study directory — is training it.
	finish := func(i int) error {
		p := runs[i]
		dir := filepath.Join(cfg.OutputDir, p.run.Dir)
		if !isFinished(dir) {
			if h, err := runlock.Check(dir); err != nil || h != nil {
				if err == nil {
					err = &runlock.BusyError{Dir: dir, Holder: *h}
				}
				return err
			}
			eta := "…"
			if trained > 0 {
				eta = (trainTime / time.Duration(trained) * time.Duration(todo-trained)).Round(time.Second).String()
			}
			fmt.Fprintf(log, "compare: run %d/%d %s (%d left to train, ETA %s)\n", i+1, len(runs), p.run.Dir, todo-trained, eta)
			start := time.Now()
			if err := trainRun(ctx, cfg, p, opt); err != nil {
				return err
			}
			trainTime += time.Since(start)
			trained++
		}
		r := p.run
		var err error
		if r.Points, err = evaluateRun(cfg, dir, r.Method == finetune.FullMethod, basePoint, taskBatches, retainBatches); err != nil {
			return err
		}
		if err := atomicfile.WriteJSON(filepath.Join(dir, MarkerFile), r); err != nil {
			return err
		}
		if err := pruneOptimizerStates(dir); err != nil {
			return err
		}
		done[i] = &r
		return nil
	}
	// elsewhere are the runs other processes are training.
	var elsewhere []int
	for i, p := range runs {
		if done[i] != nil {
			continue
		}
		if opt.Collect && !isFinished(filepath.Join(cfg.OutputDir, p.run.Dir)) {
			res.Missing = append(res.Missing, p.run.Dir)
			continue
		}
		if err := finish(i); errors.Is(err, runlock.ErrBusy) {
			elsewhere = append(elsewhere, i)
		} else if err != nil {
			return nil, fmt.Errorf("study: %s: %w", p.run.Dir, err)
		}
	}
	// Wait for them: collect each as it finishes, and train here any whose
	// process stopped before finishing it.
	poll := opt.Poll
	if poll <= 0 {
		poll = 10 * time.Second
	}
	said := ""
	for len(elsewhere) > 0 {
		var names []string
		for _, i := range elsewhere {
			names = append(names, runs[i].run.Dir)
		}
		if msg := strings.Join(names, ", "); msg != said {
			fmt.Fprintf(log, "compare: waiting for %d run(s) being trained by other processes: %s\n", len(names), msg)
			said = msg
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("study: waiting for %s: %w", strings.Join(names, ", "), ctx.Err())
		case <-time.After(poll):
		}
		still := elsewhere[:0]
		for _, i := range elsewhere {
			if err := finish(i); errors.Is(err, runlock.ErrBusy) {
				still = append(still, i)
			} else if err != nil {
				return nil, fmt.Errorf("study: %s: %w", runs[i].run.Dir, err)
			}
		}
		elsewhere = still
	}
	for _, r := range done {
		if r != nil {
			res.Runs = append(res.Runs, *r)
		}
	}
	if err := writeOutputs(cfg.OutputDir, res); err != nil {
		return nil, err
	}
	return res, nil
}

// Figure files a study writes beside compare.json.
const (
	FrontierFile     = "frontier.svg"
	TrajectoriesFile = "trajectories.svg"
)

// writeOutputs analyses the runs and writes compare.json, compare.csv,
// frontier.svg, trajectories.svg and report.md.
func writeOutputs(dir string, res *Result) error {
	res.Analysis = Analyze(res.Runs)
	res.Layers = []MethodLayers{}
	var base []LayerChange
	for _, row := range tableRows(res) {
		if row.Best == nil {
			continue
		}
		if base == nil {
			var err error
			if base, err = baseLayers(res.Settings.Model); err != nil {
				return err
			}
		}
		ml, err := layerChanges(dir, res.Settings.Model, base, *row.Best)
		if err != nil {
			return fmt.Errorf("study: per-layer changes of %s: %w", row.Best.Dir, err)
		}
		res.Layers = append(res.Layers, ml)
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, CompareFile), res); err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(dir, CSVFile), res); err != nil {
		return err
	}
	if len(res.Runs) > 0 {
		if err := WriteFrontierSVG(filepath.Join(dir, FrontierFile), res.Runs, res.Analysis); err != nil {
			return err
		}
		if err := WriteTrajectoriesSVG(filepath.Join(dir, TrajectoriesFile), res.Runs); err != nil {
			return err
		}
	}
	return writeReport(dir, res, res.Analysis)
}

// loadInputs loads the base model and reads every data file with its
// tokenizer, refusing one that is unreadable, holds ids outside the
// model's vocabulary or tokenises to nothing: the task's evaluation and
// the retain sets are returned, the training data is only checked.
func loadInputs(cfg Config) (model.CausalLM, evalData, evalData, error) {
	base, err := model.Load(cfg.Model)
	if err != nil {
		return nil, evalData{}, evalData{}, err
	}
	task, err := evalSet(base, cfg, cfg.EvalData, "task evaluation data")
	if err != nil {
		return nil, evalData{}, evalData{}, err
	}
	retain, err := evalSet(base, cfg, cfg.RetainData, "retain data")
	if err != nil {
		return nil, evalData{}, evalData{}, err
	}
	if _, err := evalSet(base, cfg, cfg.Data, "task training data"); err != nil {
		return nil, evalData{}, evalData{}, err
	}
	return base, task, retain, nil
}

// evalSet tokenises an evaluation file with the base model's tokenizer and
// refuses one with nothing to evaluate.
func evalSet(m model.CausalLM, cfg Config, path, what string) (evalData, error) {
	batches, stats, err := finetune.EvalBatches(m, cfg.Model, path, cfg.MaxSeqLength, cfg.EvalBatchSize)
	if err != nil {
		return evalData{}, fmt.Errorf("study: %s: %w", what, err)
	}
	tokens := 0
	for _, b := range batches {
		tokens += b.LossTokens
	}
	if stats.Records == 0 || tokens == 0 {
		return evalData{}, fmt.Errorf("study: %s %s holds no token to evaluate (%d records)", what, path, stats.Records)
	}
	return evalData{batches: batches, answers: finetune.AnswerFormat(stats.Format)}, nil
}

// evalData is an evaluation set: its batches, and whether its records end
// in answers whose exact reproduction by greedy decoding is counted.
type evalData struct {
	batches []data.Batch
	answers bool
}

// claim is what study.json records: the settings, and the inputs by
// content, so that a study continued later, or collected from runs trained
// elsewhere, is the same study.
type claim struct {
	Config
	Inputs map[string]string `json:"input_sha256"`
}

// inputNames are the study's inputs as claim.Inputs and errors name them.
var inputNames = []struct{ key, what string }{
	{"model", "the base model"}, {"data", "the task's training data"},
	{"eval_data", "the task's evaluation data"}, {"retain_data", "the retain data"},
}

// claimDir creates the study directory, or checks that it holds this
// study: study.json records the settings and the inputs' content hashes at
// the first start, and a later start with other settings or changed inputs
// is refused (finished runs were trained on the inputs as they were).
func claimDir(cfg Config) error {
	c := claim{Config: cfg, Inputs: map[string]string{}}
	for i, path := range []string{cfg.Model, cfg.Data, cfg.EvalData, cfg.RetainData} {
		h, err := finetune.ContentHash(path)
		if err != nil {
			return fmt.Errorf("study: %s: %w", inputNames[i].what, err)
		}
		c.Inputs[inputNames[i].key] = h
	}
	want, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	want = append(want, '\n')
	path := filepath.Join(cfg.OutputDir, StudyFile)
	got, err := os.ReadFile(path)
	switch {
	case err == nil:
		if string(got) == string(want) {
			return nil
		}
		var old claim
		if json.Unmarshal(got, &old) == nil {
			if a, _ := json.Marshal(old.Config); string(a) == string(mustJSON(cfg)) {
				for i, p := range []string{cfg.Model, cfg.Data, cfg.EvalData, cfg.RetainData} {
					if k := inputNames[i].key; old.Inputs[k] != c.Inputs[k] {
						return fmt.Errorf("study: %s (%s) changed since the study in %s started (%s); its finished runs were trained on the old one: restore it or start a new study directory",
							inputNames[i].what, p, cfg.OutputDir, path)
					}
				}
			}
		}
		return fmt.Errorf("study: %s holds a study with other settings (%s); choose a new directory or run it with its own settings", cfg.OutputDir, path)
	case !errors.Is(err, iofs.ErrNotExist):
		return err
	}
	entries, _ := os.ReadDir(cfg.OutputDir)
	for _, e := range entries {
		// A start killed while claiming the directory may leave an
		// atomic write's hidden temporary file.
		if !strings.HasPrefix(e.Name(), ".") {
			return fmt.Errorf("study: %s holds other files (%s, …) and no study; choose a new or empty directory", cfg.OutputDir, e.Name())
		}
	}
	if err := os.MkdirAll(cfg.OutputDir, 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(path, want); err != nil {
		return err
	}
	return os.MkdirAll(filepath.Join(cfg.OutputDir, RunsDir), 0o755)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// readMarker returns a finished run's record, checked against the plan.
func readMarker(cfg Config, p plannedRun) (*Run, error) {
	b, err := os.ReadFile(filepath.Join(cfg.OutputDir, p.run.Dir, MarkerFile))
	if err != nil {
		return nil, err
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if r.Method != p.run.Method || r.Size != p.run.Size || r.Params != p.run.Params || r.LearningRate != p.run.LearningRate || r.Seed != p.run.Seed || r.Dir != p.run.Dir || len(r.Points) == 0 {
		return nil, fmt.Errorf("%s does not match the study's run", MarkerFile)
	}
	return &r, nil
}

// isFinished reports whether a run directory holds a finished run: the
// final trainer state and the settings finetune.Run writes last.
func isFinished(dir string) bool {
	for _, name := range []string{train.StateFile, finetune.TrainConfigFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// trainRun trains one run, resuming it from its newest checkpoint if it
// was stopped.
func trainRun(ctx context.Context, cfg Config, p plannedRun, opt Options) error {
	j, err := cfg.job(p)
	if err != nil {
		return err
	}
	if steps, err := train.Checkpoints(j.OutputDir); err == nil && len(steps) > 0 {
		j.Resume = "latest"
	}
	if opt.Reporter != nil {
		j.Report = opt.Reporter()
	}
	_, err = finetune.Run(ctx, j)
	return err
}

// pruneOptimizerStates removes the optimizer state from each checkpoint of
// a finished, evaluated run but the newest: it only serves resuming, and
// it is twice the trained weights (most of a full fine-tuning study's
// disk). The weights stay, so every point can be evaluated again, and the
// newest checkpoint can still finish the run should its final files be
// lost.
func pruneOptimizerStates(dir string) error {
	steps, err := train.Checkpoints(dir)
	if err != nil || len(steps) == 0 {
		return err
	}
	for _, s := range steps[:len(steps)-1] {
		path := filepath.Join(dir, train.CheckpointPrefix+strconv.Itoa(s), train.OptimizerFile)
		if err := os.Remove(path); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// evaluateRun evaluates every checkpoint of a finished run and its final
// artefact; the base point comes first.
func evaluateRun(cfg Config, dir string, full bool, base Point, task, retain evalData) ([]Point, error) {
	steps, err := train.Checkpoints(dir)
	if err != nil {
		return nil, err
	}
	points := []Point{base}
	load := func(path string) (model.CausalLM, error) {
		if full {
			return model.Load(path)
		}
		return finetune.LoadForInference(cfg.Model, path)
	}
	for _, s := range steps {
		if s >= cfg.Steps {
			continue
		}
		m, err := load(filepath.Join(dir, train.CheckpointPrefix+strconv.Itoa(s)))
		if err != nil {
			return nil, err
		}
		pt, err := evaluate(m, s, task, retain)
		if err != nil {
			return nil, err
		}
		points = append(points, pt)
	}
	m, err := load(dir)
	if err != nil {
		return nil, err
	}
	pt, err := evaluate(m, cfg.Steps, task, retain)
	if err != nil {
		return nil, err
	}
	return append(points, pt), nil
}

// evaluate measures a model on the task and the retain data, and the
// task's exact answers where its records have answers.
func evaluate(m model.CausalLM, step int, task, retain evalData) (Point, error) {
	t, err := train.Evaluate(m, task.batches)
	if err != nil {
		return Point{}, fmt.Errorf("task evaluation: %w", err)
	}
	r, err := train.Evaluate(m, retain.batches)
	if err != nil {
		return Point{}, fmt.Errorf("retain evaluation: %w", err)
	}
	p := Point{Step: step, TaskLoss: t.Loss, RetainLoss: r.Loss}
	if task.answers {
		rate := t.ExactMatchRate()
		p.TaskExact = &rate
	}
	return p, nil
}
