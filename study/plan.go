package study

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/train"
)

// Command is one run of a study as the arguments of an `orthotune train`
// command line: independent of every other run, writing only its own
// directory under the study.
type Command struct {
	Dir  string   // the run's directory, relative to the study
	Args []string // the train command's arguments (after "train")
}

// Line returns the command as one shell line, prog being how the program
// is called ("orthotune").
func (c Command) Line(prog string) string {
	parts := []string{prog, "train"}
	for _, a := range c.Args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// Plan settles the study's sizes, claims its directory (study.json, as
// Compare does) and returns one `orthotune train` command per run not
// finished yet, in the study's order; a run stopped after a checkpoint
// resumes (--resume). Each trains exactly the job Compare would, so
// Compare over the study directory collects their results.
func Plan(cfg Config) ([]Command, error) {
	cfg, _, _, runs, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	if _, _, _, err := loadInputs(cfg); err != nil {
		return nil, err
	}
	if err := claimDir(cfg); err != nil {
		return nil, err
	}
	var out []Command
	for _, p := range runs {
		dir := filepath.Join(cfg.OutputDir, p.run.Dir)
		if _, err := readMarker(cfg, p); err == nil || isFinished(dir) {
			continue
		}
		args := cfg.trainArgs(p)
		if steps, err := train.Checkpoints(dir); err == nil && len(steps) > 0 {
			args = append(args, "--resume")
		}
		out = append(out, Command{Dir: p.run.Dir, Args: args})
	}
	return out, nil
}

// trainArgs spells a run's job (Config.job) as train flags.
func (c Config) trainArgs(p plannedRun) []string {
	abs := func(path string) string {
		if a, err := filepath.Abs(path); err == nil {
			return a
		}
		return path
	}
	itoa := strconv.Itoa
	args := []string{"--model", abs(c.Model), "--data", abs(c.Data), "--eval-data", abs(c.EvalData),
		"--output-dir", abs(filepath.Join(c.OutputDir, p.run.Dir))}
	base, _ := baseMethod(p.run.Method)
	if base == "" {
		args = append(args, "--method", finetune.FullMethod)
	} else {
		args = append(args, "--method", base)
		if c.TargetModules != "" {
			args = append(args, "--target-modules", c.TargetModules)
		}
		for _, f := range append(extraFlags(c.Settings, p.run.Method), p.size.Flags...) {
			args = append(args, "--"+f.Flag, f.Value)
		}
		if p.run.Method == COFT {
			args = append(args, "--coft")
		}
	}
	args = append(args, "--learning-rate", strconv.FormatFloat(p.run.LearningRate, 'g', -1, 64),
		"--max-steps", itoa(c.Steps), "--warmup-steps", itoa(c.WarmupSteps), "--lr-scheduler-type", c.Scheduler,
		"--per-device-train-batch-size", itoa(c.BatchSize), "--per-device-eval-batch-size", itoa(c.EvalBatchSize))
	if c.MaxSeqLength > 0 {
		args = append(args, "--max-seq-length", itoa(c.MaxSeqLength))
	}
	return append(args, "--save-steps", itoa(c.EvalInterval), "--seed", strconv.FormatUint(p.run.Seed, 10),
		"--replicas", itoa(c.Replicas))
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=+./:,@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
