package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/peft"
)

const trainSynopsis = "train --model DIR --data FILE.jsonl --output-dir DIR [flags]\n\n" +
	"Fine-tunes a Hugging Face model on a JSONL data set and writes a PEFT adapter directory\n" +
	"(adapter_config.json, adapter_model.safetensors) plus trainer_state.json, metrics.jsonl,\n" +
	"loss.svg and train_config.json (every setting of the run, usable with --config) into\n" +
	"--output-dir; --method full writes a whole model directory instead. Records hold \"text\",\n" +
	"\"prompt\"+\"completion\" (loss on the completion only), \"messages\" (rendered with the model's\n" +
	"chat template) or \"input_ids\". Flags are named as PEFT and transformers' TrainingArguments\n" +
	"name them; --config FILE.json sets any of them by the same name (flags on the command line win).\n" +
	"--resume continues from the newest checkpoint in --output-dir (or --resume=DIR) exactly:\n" +
	"the result is bit-identical to an uninterrupted run. Ctrl-C (SIGINT) or SIGTERM stops the run\n" +
	"after the current step with a checkpoint to resume from; a second Ctrl-C stops it at once."

// trainFlags holds what the train command's flags set: the job, the
// methods' configs the method flags write into, and which setting each
// flag belongs to.
type trainFlags struct {
	fs            *flag.FlagSet
	job           finetune.Job
	method        string
	targetModules string
	methods       methodFlags
}

// methodFlags binds every registered method's settings (peft.Settings) to
// flags: each method's flags write into a config of its own.
type methodFlags struct {
	configs map[string]peft.Config  // method name → the config its flags set
	owner   map[string]settingRef   // flag name → the setting it sets
	byName  map[string][]settingRef // any name of a setting (flags, PEFT keys, aliases) → settings
}

// settingRef is one method's setting, and whether a name is its negation.
type settingRef struct {
	method  string
	setting peft.Setting
	negated bool
}

// id names the setting across its flags.
func (r settingRef) id() string { return r.method + "/" + r.setting.Flag }

// negatedBool is a boolean flag that sets the opposite of its field.
type negatedBool struct{ v *bool }

func (n negatedBool) String() string {
	if n.v == nil {
		return "false"
	}
	return strconv.FormatBool(!*n.v)
}
func (n negatedBool) IsBoolFlag() bool { return true }
func (n negatedBool) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*n.v = !b
	return nil
}

// bindMethods adds every registered method's settings to fs, by their
// flag names and, with aliasFlags, their aliases too (otherwise aliases are
// settings-file names only).
func bindMethods(fs *flag.FlagSet, aliasFlags bool) methodFlags {
	mf := methodFlags{configs: map[string]peft.Config{}, owner: map[string]settingRef{}, byName: map[string][]settingRef{}}
	for _, m := range peft.Methods() {
		cfg := m.TrainingConfig()
		mf.configs[m.Name] = cfg
		for _, s := range peft.Settings(cfg) {
			ref := settingRef{method: m.Name, setting: s}
			switch p := s.Ptr().(type) {
			case *int:
				fs.IntVar(p, s.Flag, *p, s.Help)
			case *float64:
				fs.Float64Var(p, s.Flag, *p, s.Help)
			case *bool:
				fs.BoolVar(p, s.Flag, *p, s.Help)
				if s.Negate != "" {
					fs.Var(negatedBool{p}, s.Negate, s.NegateHelp)
					neg := ref
					neg.negated = true
					mf.owner[s.Negate] = neg
				}
			case *string:
				fs.StringVar(p, s.Flag, *p, s.Help)
			}
			mf.owner[s.Flag] = ref
			if aliasFlags {
				for _, a := range s.Aliases {
					fs.Var(aliasValue{fs.Lookup(s.Flag).Value}, a, "same as --"+s.Flag)
					mf.owner[a] = ref
				}
			}
			for _, name := range s.Names() {
				r := ref
				r.negated = name == s.Negate
				mf.byName[name] = append(mf.byName[name], r)
			}
		}
	}
	return mf
}

// aliasValue is another flag name for the same value.
type aliasValue struct{ flag.Value }

func (a aliasValue) String() string {
	if a.Value == nil {
		return ""
	}
	return a.Value.String()
}

// IsBoolFlag passes on the value's own answer.
func (a aliasValue) IsBoolFlag() bool {
	b, ok := a.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// config returns the named method's config, settled by its Resolver.
func (mf methodFlags) config(method string) (peft.Config, error) {
	cfg, ok := mf.configs[method]
	if !ok {
		return nil, fmt.Errorf("--method %q: want %s or %s", method, strings.Join(peft.MethodNames(), ", "), finetune.FullMethod)
	}
	if r, ok := cfg.(peft.Resolver); ok {
		r.Resolve()
	}
	return cfg, nil
}

// lookup finds the setting a settings-file key names: the chosen method's
// first (by flag, PEFT key, alias or negated flag), else any method's flag.
func (mf methodFlags) lookup(name, method string) (settingRef, bool) {
	for _, r := range mf.byName[name] {
		if r.method == method {
			return r, true
		}
	}
	r, ok := mf.owner[name]
	return r, ok
}

func newTrainFlags() *trainFlags {
	t := &trainFlags{job: finetune.NewJob("", "", "")}
	fs := newFlags("train")
	t.fs = fs
	j, c := &t.job, &t.job.Training
	fs.StringVar(&j.Model, "model", "", "Hugging Face model directory (config.json, safetensors weights, tokenizer.json)")
	fs.StringVar(&j.Data, "data", "", "training data, JSONL")
	fs.StringVar(&j.EvalData, "eval-data", "", "evaluation data, JSONL (default: hold out --validation-split of --data)")
	fs.Float64Var(&j.ValidationSplit, "validation-split", j.ValidationSplit, "fraction of --data held out for evaluation when there is no --eval-data (0: none)")
	fs.StringVar(&j.OutputDir, "output-dir", "", "directory for the adapter, checkpoints and metrics (new, empty, or a previous run with --resume)")
	fs.StringVar(&t.method, "method", "oft", strings.Join(peft.MethodNames(), ", ")+", or "+finetune.FullMethod+" (every weight, for comparison)")
	fs.StringVar(&t.targetModules, "target-modules", "", "comma-separated module names, \"all-linear\", or a regex (default: PEFT's default for the architecture)")
	t.methods = bindMethods(fs, false)
	fs.Float64Var(&c.LearningRate, "learning-rate", c.LearningRate, "peak learning rate")
	fs.Float64Var(&c.NumTrainEpochs, "num-train-epochs", c.NumTrainEpochs, "epochs over the training data (ignored with --max-steps)")
	fs.IntVar(&c.MaxSteps, "max-steps", 0, "optimizer steps (> 0 overrides --num-train-epochs)")
	fs.IntVar(&c.BatchSize, "per-device-train-batch-size", c.BatchSize, "sequences per micro-batch")
	fs.IntVar(&j.EvalBatchSize, "per-device-eval-batch-size", j.EvalBatchSize, "sequences per evaluation batch")
	fs.IntVar(&c.GradientAccumulationSteps, "gradient-accumulation-steps", 1, "micro-batches per optimizer step")
	fs.IntVar(&j.MaxSeqLength, "max-seq-length", 0, "truncate (or pack) sequences to this many tokens (default: min(1024, the model's context))")
	fs.BoolVar(&j.Packing, "packing", false, "pack short examples into full --max-seq-length rows")
	fs.BoolVar(&j.AssistantOnlyLoss, "assistant-only-loss", false, "for \"messages\" records, train only on assistant turns")
	fs.Var(templateVarsFlag{&j.ChatTemplateKwargs}, "chat-template-kwargs", "for \"messages\" records: a `JSON` object of further chat template variables, such as {\"enable_thinking\": false}")
	fs.IntVar(&c.WarmupSteps, "warmup-steps", 0, "linear warmup steps from a learning rate of 0")
	fs.StringVar(&c.LRSchedulerType, "lr-scheduler-type", c.LRSchedulerType, "constant, constant_with_warmup, linear or cosine")
	fs.Float64Var(&c.WeightDecay, "weight-decay", 0, "AdamW decoupled weight decay (not on biases and norms)")
	fs.Float64Var(&c.AdamBeta1, "adam-beta1", c.AdamBeta1, "AdamW β1")
	fs.Float64Var(&c.AdamBeta2, "adam-beta2", c.AdamBeta2, "AdamW β2")
	fs.Float64Var(&c.AdamEpsilon, "adam-epsilon", c.AdamEpsilon, "AdamW ε")
	fs.Float64Var(&c.MaxGradNorm, "max-grad-norm", c.MaxGradNorm, "clip gradients to this global L2 norm (0: no clipping)")
	fs.StringVar(&j.BaseDType, "base-dtype", j.BaseDType, "hold frozen base weights in memory as f32 or bf16 (half the memory; widened to f32 for each product)")
	fs.BoolVar(&c.GradientCheckpointing, "gradient-checkpointing", false, "recompute each block's activations in the backward pass instead of keeping them (less memory, ~1/3 more compute)")
	fs.IntVar(&j.Replicas, "replicas", 0, "model replicas that split each step's rows and run concurrently, one per core (0: one per thread unless --gradient-checkpointing is on; 1: threads share each operation instead)")
	fs.IntVar(&c.LoggingSteps, "logging-steps", 1, "write a metrics.jsonl line every N steps")
	fs.IntVar(&c.EvalSteps, "eval-steps", 0, "evaluate every N steps (0: at the end only)")
	fs.IntVar(&c.SaveSteps, "save-steps", 0, "write a checkpoint every N steps (0: none)")
	fs.IntVar(&c.SaveTotalLimit, "save-total-limit", 0, "keep only the N newest checkpoints (0: all)")
	fs.Var(uint64Flag{&c.Seed}, "seed", "seed for adapter initialisation, shuffling, the validation split and dropout")
	fs.Var(resumeFlag{&j.Resume}, "resume", "continue from the newest checkpoint in --output-dir (--resume=DIR: from DIR)")
	fs.BoolVar(&j.OverwriteOutputDir, "overwrite-output-dir", false, "replace a previous run in --output-dir")
	fs.BoolVar(&j.ResumeIgnoreChanges, "resume-ignore-changes", false, "with --resume: continue even if the model, the data or a setting differs from the checkpoint's (logged)")
	fs.String("config", "", "JSON file of settings named like the flags (dashes or underscores) or as PEFT names the method's fields")
	return t
}

// resolve turns the parsed flags into the job: the chosen method's config
// (settled by its Resolver) with the targets, or none for full
// fine-tuning.
func (t *trainFlags) resolve() error {
	if t.method == finetune.FullMethod {
		t.job.Adapter = nil
		return nil
	}
	cfg, err := t.methods.config(t.method)
	if err != nil {
		return err
	}
	cfg.Base().TargetModules = peft.ParseTargets(t.targetModules)
	t.job.Adapter = cfg
	return nil
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	t := newTrainFlags()
	synopsis := trainSynopsis + methodList()
	if _, err := parseFlags(t.fs, synopsis, args, 0, 0, stdout, stderr); err != nil {
		return err
	}
	if err := t.applyConfigFile(); err != nil {
		return err
	}
	if err := requireFlags(t.fs, synopsis, stderr, "model", "data", "output-dir"); err != nil {
		return err
	}
	if err := t.resolve(); err != nil {
		return err
	}
	ctx, stop := interruptible()
	defer stop()
	rep := newTrainReporter(stdout, stderr)
	t.job.Report = rep
	_, err := finetune.Run(ctx, t.job)
	rep.close()
	return err
}

// methodList describes the registered methods for the help text.
func methodList() string {
	var b strings.Builder
	b.WriteString("\n\nMethods (--method):\n")
	for _, m := range peft.Methods() {
		fmt.Fprintf(&b, "  %-6s %s\n", m.Name, m.Summary)
	}
	fmt.Fprintf(&b, "  %-6s every weight of the model (full fine-tuning, for comparison)", finetune.FullMethod)
	return b.String()
}

// interruptible returns a context that Ctrl-C (SIGINT) or SIGTERM
// cancels; after the first signal the default behaviour returns, so a
// second one stops the process at once.
func interruptible() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// applyConfigFile sets every setting named in --config's JSON object that
// the command line did not set. Keys are flag names (dashes or
// underscores) or the chosen method's PEFT field names; arrays become
// comma-separated lists.
func (t *trainFlags) applyConfigFile() error {
	fs := t.fs
	path := fs.Lookup("config").Value.String()
	if path == "" {
		return nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return fmt.Errorf("%s: not a JSON object: %w", path, err)
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		explicit[f.Name] = true
		if r, ok := t.methods.owner[f.Name]; ok {
			explicit[r.id()] = true
		}
	})
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// The method first: it decides what a method's field name means.
	if v, ok := obj["method"]; ok && !explicit["method"] {
		if err := setFromJSON(fs, path, "method", "method", v); err != nil {
			return err
		}
	}
	for _, k := range keys {
		name := strings.ReplaceAll(k, "_", "-")
		if name == "resume-from-checkpoint" {
			name = "resume"
		}
		switch r, ok := t.methods.lookup(name, t.method); {
		case name == "method":
			continue
		case ok:
			if explicit[r.id()] {
				continue
			}
			flagName := r.setting.Flag
			if r.negated {
				flagName = r.setting.Negate
			}
			if err := setFromJSON(fs, path, k, flagName, obj[k]); err != nil {
				return err
			}
		case fs.Lookup(name) != nil && name != "config":
			if explicit[name] {
				continue
			}
			if err := setFromJSON(fs, path, k, name, obj[k]); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unknown setting %q (settings are named like the train command's flags)", path, k)
		}
	}
	return nil
}

// setFromJSON sets flag name from a JSON value: a string as is, an array
// as a comma-separated list, anything else as its JSON text (null: left
// alone).
func setFromJSON(fs *flag.FlagSet, path, key, name string, raw json.RawMessage) error {
	var value string
	var s string
	var list []any
	switch {
	case json.Unmarshal(raw, &s) == nil:
		value = s
	case json.Unmarshal(raw, &list) == nil:
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = fmt.Sprint(x)
		}
		value = strings.Join(parts, ",")
	default:
		value = strings.TrimSpace(string(raw))
		if value == "null" {
			return nil
		}
	}
	if err := fs.Set(name, value); err != nil {
		return fmt.Errorf("%s: %q: want %s, got %s", path, key, valueKind(fs.Lookup(name).Value), raw)
	}
	return nil
}

// valueKind says what a flag's value must be, for messages.
func valueKind(v flag.Value) string {
	switch g := v.(type) {
	case flag.Getter:
		switch g.Get().(type) {
		case int, int64, uint, uint64:
			return "an integer"
		case float64:
			return "a number"
		case bool:
			return "true or false"
		case string:
			return "a string"
		}
	case uint64Flag:
		return "a non-negative integer"
	case negatedBool:
		return "true or false"
	}
	return "a valid value"
}

// resumeFlag is --resume (the newest checkpoint) or --resume=DIR.
type resumeFlag struct{ v *string }

func (r resumeFlag) String() string {
	if r.v == nil {
		return ""
	}
	return *r.v
}
func (r resumeFlag) IsBoolFlag() bool { return true }
func (r resumeFlag) Set(s string) error {
	switch s {
	case "true":
		*r.v = "latest"
	case "false", "":
		*r.v = ""
	default:
		*r.v = s
	}
	return nil
}

// uint64Flag is a flag.Value for a uint64 field.
type uint64Flag struct{ v *uint64 }

func (u uint64Flag) String() string {
	if u.v == nil {
		return "0"
	}
	return strconv.FormatUint(*u.v, 10)
}
func (u uint64Flag) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want a non-negative integer, got %q", s)
	}
	*u.v = n
	return nil
}
