package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/internal/atomicfile"
	"github.com/orthotune/orthotune/internal/demo"
	"github.com/orthotune/orthotune/internal/progress"
	"github.com/orthotune/orthotune/study"
	"github.com/orthotune/orthotune/train"
)

const compareSynopsis = "compare [--model DIR --data FILE --eval-data FILE --retain-data FILE] [--output-dir DIR] [flags]\n\n" +
	"Measures how much each fine-tuning method learns and how much it forgets, on your model and data.\n" +
	"Every method — full fine-tuning, each registered adapter method and COFT — is trained at a matched\n" +
	"trainable-parameter budget (--budget, default OFT block 32's count; each method's size is chosen\n" +
	"within ±15% and printed), over its own learning-rate grid (--lr) and --seeds seeds, with the same\n" +
	"data order, steps and schedule. Every --eval-interval steps each run is evaluated on the task\n" +
	"(--eval-data) and on --retain-data, general text whose loss measures forgetting. Writes, into\n" +
	"--output-dir (default: a new directory, printed): compare.json and compare.csv (every run and\n" +
	"evaluation point), report.md and a table on the terminal. With no data flags it runs a built-in\n" +
	"study on the demo's base model (pretrained once and cached, as `orthotune demo` does), its task and\n" +
	"its held-out corpus.\n\n" +
	"A study is a directory of ordinary `train` runs (runs/<method>-<size>-lr<lr>-s<seed>): a killed\n" +
	"compare started again with the same flags and --output-dir carries on where it stopped, finished\n" +
	"runs are reused, and the same seeds give the same numbers bit for bit.\n\n" +
	"Larger studies run on the schedulers you have. --plan writes one `orthotune train` command line\n" +
	"per run not finished yet (to stdout and to DIR/plan.txt); each is independent and writes only its\n" +
	"own directory under the study. Train them anywhere that sees the study directory, then run the\n" +
	"same compare command (without --plan) to collect them (--collect: collect only, train nothing). A run\n" +
	"being trained locks its directory (a heartbeat file, valid across machines sharing it), so compare never\n" +
	"trains a run that is in flight elsewhere: it trains the rest, then waits for those and collects them as\n" +
	"they finish (training any whose process died). Several compare commands over one shared study directory\n" +
	"therefore split its runs between them:\n\n" +
	"  orthotune compare --plan --output-dir /shared/study [flags] > /dev/null\n" +
	"  # Slurm array job:\n" +
	"  sbatch --array=1-$(wc -l < /shared/study/plan.txt) \\\n" +
	"    --wrap 'eval \"$(sed -n \"${SLURM_ARRAY_TASK_ID}p\" /shared/study/plan.txt)\"'\n" +
	"  # Kubernetes indexed Job (completionMode: Indexed, completions: the number of lines), container:\n" +
	"  #   command: [sh, -c, 'eval \"$(sed -n \"$((JOB_COMPLETION_INDEX+1))p\" /shared/study/plan.txt)\"']\n" +
	"  # GNU parallel, 4 at a time on one machine:\n" +
	"  parallel -j 4 < /shared/study/plan.txt\n" +
	"  # then collect:\n" +
	"  orthotune compare --collect --output-dir /shared/study [flags]"

// builtinStudy holds the built-in study's lengths (tests shorten them).
var builtinStudy = struct{ steps, interval, pretrain int }{steps: 240, interval: 30, pretrain: 200}

// lrFlag collects --lr METHOD=LR,LR… settings.
type lrFlag map[string][]float64

func (f lrFlag) String() string {
	var parts []string
	for m, lrs := range f {
		var v []string
		for _, lr := range lrs {
			v = append(v, strconv.FormatFloat(lr, 'g', -1, 64))
		}
		parts = append(parts, m+"="+strings.Join(v, ","))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func (f lrFlag) Set(s string) error {
	m, list, ok := strings.Cut(s, "=")
	if !ok || m == "" || list == "" {
		return fmt.Errorf("want METHOD=LR[,LR…], got %q", s)
	}
	var lrs []float64
	for _, x := range strings.Split(list, ",") {
		lr, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil || !(lr > 0) {
			return fmt.Errorf("%s: want positive learning rates, got %q", m, x)
		}
		lrs = append(lrs, lr)
	}
	f[strings.TrimSpace(m)] = lrs
	return nil
}

func runCompare(args []string, stdout, stderr io.Writer) error {
	cfg := study.DefaultConfig()
	fs := newFlags("compare")
	fs.StringVar(&cfg.Model, "model", "", "base model directory (default: the built-in study on the demo's base model)")
	fs.StringVar(&cfg.Data, "data", "", "the task's training data, JSONL")
	fs.StringVar(&cfg.EvalData, "eval-data", "", "the task's evaluation data, JSONL")
	fs.StringVar(&cfg.RetainData, "retain-data", "", "retain data, JSONL: general text whose loss measures forgetting")
	fs.StringVar(&cfg.OutputDir, "output-dir", "", "the study directory: new, or a study to resume or collect (default: a new directory, printed)")
	methods := fs.String("methods", "", "comma-separated methods (default: "+strings.Join(study.DefaultMethods(), ",")+")")
	fs.IntVar(&cfg.Budget, "budget", 0, "trainable-parameter budget every adapter's size is matched to (0: OFT block 32's count)")
	fs.Float64Var(&cfg.Tolerance, "tolerance", cfg.Tolerance, "how far from --budget a size may land, as a fraction")
	lrs := lrFlag{}
	fs.Var(lrs, "lr", "a method's learning-rate grid, METHOD=LR[,LR…] (repeatable; default per method: "+defaultGrids()+")")
	fs.Func("set", "an extra setting of a method's adapters, METHOD:FLAG=VALUE by the train command's flag name, e.g. coft:eps=1 (repeatable; counted in the budget; default coft:eps=3, where PEFT's 6e-5 lets COFT learn nothing)", func(s string) error {
		m, rest, ok := strings.Cut(s, ":")
		name, value, ok2 := strings.Cut(rest, "=")
		if !ok || !ok2 || m == "" || name == "" {
			return fmt.Errorf("want METHOD:FLAG=VALUE, got %q", s)
		}
		if cfg.Settings == nil {
			cfg.Settings = map[string]map[string]string{}
		}
		if cfg.Settings[m] == nil {
			cfg.Settings[m] = map[string]string{}
		}
		cfg.Settings[m][strings.TrimPrefix(name, "--")] = value
		return nil
	})
	fs.IntVar(&cfg.Seeds, "seeds", cfg.Seeds, "seeds per learning rate (1…N, the same for every method)")
	steps := fs.Int("steps", 0, "optimizer steps per run (default: "+strconv.Itoa(cfg.Steps)+"; built-in study "+strconv.Itoa(builtinStudy.steps)+")")
	interval := fs.Int("eval-interval", 0, "steps between evaluation points, each a checkpoint kept (default: "+strconv.Itoa(cfg.EvalInterval)+"; built-in study "+strconv.Itoa(builtinStudy.interval)+")")
	fs.IntVar(&cfg.WarmupSteps, "warmup-steps", cfg.WarmupSteps, "linear warmup steps")
	fs.StringVar(&cfg.Scheduler, "lr-scheduler-type", cfg.Scheduler, "constant, constant_with_warmup, linear or cosine")
	fs.IntVar(&cfg.BatchSize, "per-device-train-batch-size", cfg.BatchSize, "sequences per step")
	fs.IntVar(&cfg.EvalBatchSize, "per-device-eval-batch-size", cfg.EvalBatchSize, "sequences per evaluation batch")
	maxSeq := -1
	fs.Func("max-seq-length", "truncate sequences to this many tokens (default: min(1024, the model's context); built-in study 64)", func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("want a non-negative integer, got %q", s)
		}
		maxSeq = n
		return nil
	})
	fs.StringVar(&cfg.TargetModules, "target-modules", cfg.TargetModules, "modules every adapter method targets: names, \"all-linear\" or a regex")
	fs.IntVar(&cfg.Replicas, "replicas", cfg.Replicas, "model replicas per step, fixed so the numbers do not depend on the machine")
	plan := fs.Bool("plan", false, "print one `orthotune train` command line per unfinished run (and write them to DIR/plan.txt); train nothing")
	collect := fs.Bool("collect", false, "collect the finished runs only (trained from --plan's lines); train nothing")
	cacheDir := fs.String("cache-dir", "", "built-in study: where the demo's base model is cached (default: the user cache directory)/orthotune")
	rebuild := fs.Bool("rebuild", false, "built-in study: pretrain the demo's base model again")
	if _, err := parseFlags(fs, compareSynopsis, args, 0, 0, stdout, stderr); err != nil {
		return err
	}
	if *methods != "" {
		cfg.Methods = nil
		for _, m := range strings.Split(*methods, ",") {
			if m = strings.TrimSpace(m); m != "" {
				cfg.Methods = append(cfg.Methods, m)
			}
		}
	}
	if len(lrs) > 0 {
		cfg.LearningRates = lrs
	}
	ctx, stop := interruptible()
	defer stop()

	given := 0
	for _, p := range []string{cfg.Model, cfg.Data, cfg.EvalData, cfg.RetainData} {
		if p != "" {
			given++
		}
	}
	switch given {
	case 0: // the built-in study
		if *cacheDir == "" {
			dir, err := os.UserCacheDir()
			if err != nil {
				return fmt.Errorf("no user cache directory (%w); pass --cache-dir", err)
			}
			*cacheDir = filepath.Join(dir, "orthotune")
		}
		d, err := demo.Prepare(ctx, demo.Options{CacheDir: *cacheDir, Rebuild: *rebuild, PretrainSteps: builtinStudy.pretrain, Log: stderr,
			Reporter: func() finetune.Reporter { return newCompareReporter(stderr) }})
		if err != nil {
			return err
		}
		cfg.Model, cfg.Data, cfg.EvalData, cfg.RetainData = d.BaseDir, d.TaskTrain, d.TaskEval, d.RetainData
		cfg.Steps, cfg.EvalInterval, cfg.MaxSeqLength = builtinStudy.steps, builtinStudy.interval, 64
	case 4:
	default:
		fmt.Fprintf(stderr, "orthotune compare: --model, --data, --eval-data and --retain-data go together (or none of them: the built-in study)\n\nUsage: orthotune %s\n", compareSynopsis)
		return errUsage
	}
	if *steps > 0 {
		cfg.Steps = *steps
	}
	if *interval > 0 {
		cfg.EvalInterval = *interval
	}
	if maxSeq >= 0 {
		cfg.MaxSeqLength = maxSeq
	}
	if cfg.OutputDir == "" {
		dir, err := os.MkdirTemp("", "orthotune-compare-")
		if err != nil {
			return err
		}
		cfg.OutputDir = dir
		fmt.Fprintf(stderr, "compare: the study's directory is %s (resume or collect it with --output-dir %s)\n", dir, dir)
	}

	if *plan {
		cmds, err := study.Plan(cfg)
		if err != nil {
			return err
		}
		var b strings.Builder
		for _, c := range cmds {
			b.WriteString(c.Line(selfCommand()))
			b.WriteByte('\n')
		}
		if err := atomicfile.WriteBytes(filepath.Join(cfg.OutputDir, "plan.txt"), []byte(b.String())); err != nil {
			return err
		}
		fmt.Fprint(stdout, b.String())
		fmt.Fprintf(stderr, "compare: %d run(s) to train, written to %s\n", len(cmds), filepath.Join(cfg.OutputDir, "plan.txt"))
		return nil
	}
	res, err := study.Compare(ctx, cfg, study.Options{Log: stderr, Collect: *collect,
		Reporter: func() finetune.Reporter { return newCompareReporter(stderr) }})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	study.WriteTable(stdout, res)
	if c := res.Analysis.Conclusion; c != "" {
		fmt.Fprintf(stdout, "\n%s\n", c)
	}
	fmt.Fprintf(stdout, "\nwrote %s, %s, %s, %s and %s in %s\n", study.CompareFile, study.CSVFile, study.FrontierFile,
		study.TrajectoriesFile, study.ReportFile, cfg.OutputDir)
	return nil
}

// defaultGrids describes the default learning-rate grids for the help.
func defaultGrids() string {
	var parts []string
	for _, m := range study.DefaultMethods() {
		var v []string
		for _, lr := range study.DefaultLearningRates(m) {
			v = append(v, strconv.FormatFloat(lr, 'g', -1, 64))
		}
		parts = append(parts, m+"="+strings.Join(v, ","))
	}
	return strings.Join(parts, " ")
}

// compareReporter shows each run of a study as a progress bar only: the
// study prints its own lines.
type compareReporter struct {
	w   io.Writer
	bar *progress.Bar
}

func newCompareReporter(w io.Writer) *compareReporter { return &compareReporter{w: w} }

func (r *compareReporter) Begin(plan finetune.Plan) {
	r.bar = progress.New(r.w, progress.Options{Label: plan.Name, Total: plan.Steps})
}

func (r *compareReporter) Observe(e train.Event) {
	if e.Kind == "step" && r.bar != nil {
		r.bar.AddTokens(e.StepTokens)
		r.bar.Update(e.Record.Step)
	}
}

func (r *compareReporter) End(finetune.Result) {
	if r.bar != nil {
		r.bar.Finish()
		r.bar = nil
	}
}
