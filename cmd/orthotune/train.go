package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/internal/atomicfile"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/lora"
	"github.com/orthotune/orthotune/peft/oft"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
	"github.com/orthotune/orthotune/train"
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
	"the result is bit-identical to an uninterrupted run."

// trainJob is everything one training run needs, resolved from flags and
// --config.
type trainJob struct {
	ModelDir, DataPath, EvalDataPath, OutputDir string
	ValidationSplit                             float64
	Method                                      string
	TargetModules                               string
	// OFT
	OFTBlockSize, OFTR int
	COFT               bool
	Eps                float64
	BlockShare         bool
	ExactCayley        bool
	NeumannTerms       int
	ModuleDropout      float64
	// LoRA
	LoraR       int
	LoraAlpha   float64
	LoraDropout float64
	UseRSLoRA   bool
	// data
	MaxSeqLength    int
	Packing         bool
	AssistantOnly   bool
	EvalBatchSize   int
	Resume          string // "", "latest" or a checkpoint directory
	OverwriteOutput bool
	BaseDType       string // "f32" or "bf16": how frozen base weights are held in memory
	Replicas        int    // model replicas each step's rows are split among (0: one per thread where possible)
	Config          train.Config
	Quiet           bool // no progress bar or step lines (the demo prints its own)
	Label           string
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

func trainFlags(j *trainJob) *flag.FlagSet {
	fs := newFlags("train")
	c := &j.Config
	fs.StringVar(&j.ModelDir, "model", "", "Hugging Face model directory (config.json, safetensors weights, tokenizer.json)")
	fs.StringVar(&j.DataPath, "data", "", "training data, JSONL")
	fs.StringVar(&j.EvalDataPath, "eval-data", "", "evaluation data, JSONL (default: hold out --validation-split of --data)")
	fs.Float64Var(&j.ValidationSplit, "validation-split", 0.1, "fraction of --data held out for evaluation when there is no --eval-data (0: none)")
	fs.StringVar(&j.OutputDir, "output-dir", "", "directory for the adapter, checkpoints and metrics (new, empty, or a previous run with --resume)")
	fs.StringVar(&j.Method, "method", "oft", "oft, lora, or full (every weight, for comparison)")
	fs.StringVar(&j.TargetModules, "target-modules", "", "comma-separated module names, \"all-linear\", or a regex (default: PEFT's default for the architecture)")
	fs.IntVar(&j.OFTBlockSize, "oft-block-size", 32, "OFT block size b (PEFT oft_block_size)")
	fs.IntVar(&j.OFTR, "oft-r", 0, "OFT number of blocks r instead of --oft-block-size (PEFT r; 0: use the block size)")
	fs.BoolVar(&j.COFT, "coft", false, "constrained OFT: keep each block's Q within a ball of radius --eps")
	fs.Float64Var(&j.Eps, "eps", 6e-5, "COFT radius (PEFT eps)")
	fs.BoolVar(&j.BlockShare, "block-share", false, "share one OFT block across the layer")
	useNeumann := true
	fs.BoolVar(&useNeumann, "use-cayley-neumann", true, "Cayley–Neumann series for OFT's rotation (PEFT's default)")
	fs.BoolVar(&j.ExactCayley, "exact-cayley", false, "exact Cayley transform (use_cayley_neumann=false)")
	fs.IntVar(&j.NeumannTerms, "num-cayley-neumann-terms", 5, "terms of the Cayley–Neumann series")
	fs.Float64Var(&j.ModuleDropout, "module-dropout", 0, "OFT multiplicative block dropout probability")
	fs.IntVar(&j.LoraR, "lora-r", 8, "LoRA rank r")
	fs.Float64Var(&j.LoraAlpha, "lora-alpha", 16, "LoRA alpha (scaling alpha/r, or alpha/√r with --use-rslora)")
	fs.Float64Var(&j.LoraDropout, "lora-dropout", 0, "LoRA dropout probability")
	fs.BoolVar(&j.UseRSLoRA, "use-rslora", false, "rank-stabilised LoRA scaling alpha/√r")
	fs.Float64Var(&c.LearningRate, "learning-rate", c.LearningRate, "peak learning rate")
	fs.Float64Var(&c.NumTrainEpochs, "num-train-epochs", c.NumTrainEpochs, "epochs over the training data (ignored with --max-steps)")
	fs.IntVar(&c.MaxSteps, "max-steps", 0, "optimizer steps (> 0 overrides --num-train-epochs)")
	fs.IntVar(&c.BatchSize, "per-device-train-batch-size", c.BatchSize, "sequences per micro-batch")
	fs.IntVar(&j.EvalBatchSize, "per-device-eval-batch-size", 8, "sequences per evaluation batch")
	fs.IntVar(&c.GradientAccumulationSteps, "gradient-accumulation-steps", 1, "micro-batches per optimizer step")
	fs.IntVar(&j.MaxSeqLength, "max-seq-length", 0, "truncate (or pack) sequences to this many tokens (default: min(1024, the model's context))")
	fs.BoolVar(&j.Packing, "packing", false, "pack short examples into full --max-seq-length rows")
	fs.BoolVar(&j.AssistantOnly, "assistant-only-loss", false, "for \"messages\" records, train only on assistant turns")
	fs.IntVar(&c.WarmupSteps, "warmup-steps", 0, "linear warmup steps from a learning rate of 0")
	fs.StringVar(&c.LRSchedulerType, "lr-scheduler-type", c.LRSchedulerType, "constant, constant_with_warmup, linear or cosine")
	fs.Float64Var(&c.WeightDecay, "weight-decay", 0, "AdamW decoupled weight decay (not on biases and norms)")
	fs.Float64Var(&c.AdamBeta1, "adam-beta1", c.AdamBeta1, "AdamW β1")
	fs.Float64Var(&c.AdamBeta2, "adam-beta2", c.AdamBeta2, "AdamW β2")
	fs.Float64Var(&c.AdamEpsilon, "adam-epsilon", c.AdamEpsilon, "AdamW ε")
	fs.Float64Var(&c.MaxGradNorm, "max-grad-norm", c.MaxGradNorm, "clip gradients to this global L2 norm (0: no clipping)")
	fs.StringVar(&j.BaseDType, "base-dtype", "f32", "hold frozen base weights in memory as f32 or bf16 (half the memory; widened to f32 for each product)")
	fs.BoolVar(&c.GradientCheckpointing, "gradient-checkpointing", false, "recompute each block's activations in the backward pass instead of keeping them (less memory, ~1/3 more compute)")
	fs.IntVar(&j.Replicas, "replicas", 0, "model replicas that split each step's rows and run concurrently, one per core (0: one per thread unless --gradient-checkpointing is on; 1: threads share each operation instead)")
	fs.IntVar(&c.LoggingSteps, "logging-steps", 1, "write a metrics.jsonl line every N steps")
	fs.IntVar(&c.EvalSteps, "eval-steps", 0, "evaluate every N steps (0: at the end only)")
	fs.IntVar(&c.SaveSteps, "save-steps", 0, "write a checkpoint every N steps (0: none)")
	fs.IntVar(&c.SaveTotalLimit, "save-total-limit", 0, "keep only the N newest checkpoints (0: all)")
	fs.Var(uint64Flag{&c.Seed}, "seed", "seed for adapter initialisation, shuffling, the validation split and dropout")
	fs.Var(resumeFlag{&j.Resume}, "resume", "continue from the newest checkpoint in --output-dir (--resume=DIR: from DIR)")
	fs.BoolVar(&j.OverwriteOutput, "overwrite-output-dir", false, "replace a previous run in --output-dir")
	fs.String("config", "", "JSON file of settings named like the flags (dashes or underscores)")
	return fs
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	j := &trainJob{Config: train.DefaultConfig()}
	fs := trainFlags(j)
	if _, err := parseFlags(fs, trainSynopsis, args, 0, 0, stdout, stderr); err != nil {
		return err
	}
	if err := applyConfigFile(fs); err != nil {
		return err
	}
	if err := requireFlags(fs, trainSynopsis, stderr, "model", "data", "output-dir"); err != nil {
		return err
	}
	if v := fs.Lookup("use-cayley-neumann").Value.String(); v == "false" {
		j.ExactCayley = true
	}
	_, err := j.run(stdout, stderr)
	return err
}

// applyConfigFile sets every flag named in --config's JSON object that the
// command line did not set. Keys use dashes or underscores; arrays become
// comma-separated lists.
func applyConfigFile(fs *flag.FlagSet) error {
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
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := strings.ReplaceAll(k, "_", "-")
		switch name {
		case "lora-rank", "r":
			name = "lora-r"
		case "resume-from-checkpoint":
			name = "resume"
		}
		f := fs.Lookup(name)
		if f == nil || name == "config" {
			return fmt.Errorf("%s: unknown setting %q (settings are named like the train command's flags)", path, k)
		}
		if explicit[name] {
			continue
		}
		var value string
		var s string
		var list []any
		switch {
		case json.Unmarshal(obj[k], &s) == nil:
			value = s
		case json.Unmarshal(obj[k], &list) == nil:
			parts := make([]string, len(list))
			for i, x := range list {
				parts[i] = fmt.Sprint(x)
			}
			value = strings.Join(parts, ",")
		default:
			value = strings.TrimSpace(string(obj[k]))
			if value == "null" {
				continue
			}
		}
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("%s: %q: %w", path, k, err)
		}
	}
	return nil
}

// peftDefaultTargets are PEFT's default target modules per architecture
// (its TRANSFORMERS_MODELS_TO_*_TARGET_MODULES_MAPPING for OFT and LoRA).
var peftDefaultTargets = map[string][]string{
	"llama": {"q_proj", "v_proj"}, "mistral": {"q_proj", "v_proj"}, "qwen2": {"q_proj", "v_proj"},
	"gpt2": {"c_attn"},
}

func (j *trainJob) targets(modelType string) (peft.ModuleList, error) {
	s := strings.TrimSpace(j.TargetModules)
	switch {
	case s == "":
		names, ok := peftDefaultTargets[modelType]
		if !ok {
			return peft.ModuleList{}, fmt.Errorf("--target-modules: PEFT has no default for model_type %q; name the modules", modelType)
		}
		return peft.Names(names...), nil
	case s == "all-linear" || strings.ContainsAny(s, `.*+?[]()|\^$`) && !strings.Contains(s, ","):
		return peft.Pattern(s), nil
	}
	var names []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return peft.Names(names...), nil
}

func (j *trainJob) adapterConfig(modelType string) (peft.Config, error) {
	targets, err := j.targets(modelType)
	if err != nil {
		return nil, err
	}
	switch j.Method {
	case "oft":
		c := oft.NewConfig(targets)
		c.BlockSize, c.R = j.OFTBlockSize, j.OFTR
		if j.OFTR > 0 {
			c.BlockSize = 0
		}
		c.COFT, c.Eps, c.BlockShare, c.ModuleDropout = j.COFT, j.Eps, j.BlockShare, j.ModuleDropout
		c.UseCayleyNeumann, c.NumCayleyNeumannTerms = !j.ExactCayley, j.NeumannTerms
		return c, nil
	case "lora":
		c := lora.NewConfig(targets)
		c.R, c.LoraAlpha, c.LoraDropout, c.UseRSLoRA = j.LoraR, j.LoraAlpha, j.LoraDropout, j.UseRSLoRA
		return c, nil
	}
	return nil, fmt.Errorf("--method %q: want oft, lora or full", j.Method)
}

// checkOutputDir accepts a new or empty directory, a previous run when
// resuming or overwriting, and refuses anything else.
func (j *trainJob) checkOutputDir() error {
	entries, err := os.ReadDir(j.OutputDir)
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		if j.Resume == "latest" {
			return fmt.Errorf("--resume: --output-dir %s does not exist; there is nothing to resume", j.OutputDir)
		}
		return nil
	case err != nil:
		if fi, serr := os.Stat(j.OutputDir); serr == nil && !fi.IsDir() {
			return fmt.Errorf("--output-dir %s exists and is not a directory", j.OutputDir)
		}
		return fmt.Errorf("--output-dir %s: %w", j.OutputDir, err)
	case len(entries) == 0:
		return nil
	case !train.IsOutputDir(j.OutputDir):
		return fmt.Errorf("--output-dir %s holds other files (%s, …) and no orthotune run; refusing to write into it: choose a new or empty directory", j.OutputDir, entries[0].Name())
	case j.Resume == "" && !j.OverwriteOutput:
		return fmt.Errorf("--output-dir %s holds a previous run; pass --resume to continue it or --overwrite-output-dir to start over", j.OutputDir)
	}
	return nil
}

// trainResult is what a finished run reports.
type trainResult struct {
	State        train.State
	Trainable    int
	TrainRecords data.Stats
	Elapsed      time.Duration
}

func (j *trainJob) run(stdout, stderr io.Writer) (*trainResult, error) {
	if err := j.checkOutputDir(); err != nil {
		return nil, err
	}
	m, err := model.Load(j.ModelDir)
	if err != nil {
		return nil, err
	}
	info := m.Info()
	tok, err := loadTokenizer(j.ModelDir, info.Vocab)
	if err != nil {
		return nil, err
	}
	if j.MaxSeqLength == 0 {
		j.MaxSeqLength = min(1024, info.MaxPositions)
	}
	if info.MaxPositions > 0 && j.MaxSeqLength > info.MaxPositions {
		return nil, fmt.Errorf("--max-seq-length %d exceeds the model's context of %d positions (%s)", j.MaxSeqLength, info.MaxPositions, filepath.Join(j.ModelDir, "config.json"))
	}
	if j.MaxSeqLength < 2 {
		return nil, fmt.Errorf("--max-seq-length %d: want at least 2", j.MaxSeqLength)
	}
	opts := data.Options{MaxSeqLength: j.MaxSeqLength, VocabSize: info.Vocab, AssistantOnly: j.AssistantOnly}
	if tok != nil {
		opts.Tokenizer = tok
		opts.Chat = chatRenderer(tok)
	}
	trainSet, stats, err := data.ReadJSONL(j.DataPath, opts)
	if err != nil {
		return nil, err
	}
	var evalSet []data.Example
	switch {
	case j.EvalDataPath != "":
		if evalSet, _, err = data.ReadJSONL(j.EvalDataPath, opts); err != nil {
			return nil, err
		}
	case j.ValidationSplit > 0 && len(trainSet) > 1:
		if j.ValidationSplit >= 1 {
			return nil, fmt.Errorf("--validation-split %v: want a fraction in [0, 1)", j.ValidationSplit)
		}
		trainSet, evalSet = data.Split(trainSet, j.ValidationSplit, j.Config.Seed)
	}
	if j.Packing {
		trainSet = data.Pack(trainSet, j.MaxSeqLength)
		if len(trainSet) == 0 {
			return nil, fmt.Errorf("%s: too few tokens to fill one packed row of %d", j.DataPath, j.MaxSeqLength)
		}
	}
	pad := padID(tok)
	loader := data.NewLoader(trainSet, j.Config.BatchSize, true, j.Config.Seed, pad)
	evalBatches := inOrder(evalSet, j.EvalBatchSize, pad)

	var target train.Target
	var runModel model.CausalLM = m
	var adapterCfg peft.Config
	switch j.Method {
	case "full":
		ckpt, err := safetensors.OpenCheckpoint(j.ModelDir)
		if err != nil {
			return nil, err
		}
		defer ckpt.Close()
		target = train.FullTarget(m, ckpt)
	default:
		if adapterCfg, err = j.adapterConfig(info.ModelType); err != nil {
			return nil, err
		}
		if err := adapterCfg.Validate(); err != nil {
			return nil, fmt.Errorf("--method %s: %w", j.Method, err)
		}
		pm := peft.Wrap(m)
		a, err := pm.Add(adapterName, adapterCfg, tensor.NewRNG(j.Config.Seed))
		if err != nil {
			return nil, err
		}
		runModel = pm
		target = train.AdapterTarget(a)
	}
	if err := holdBase(runModel, j.BaseDType, j.Method); err != nil {
		return nil, err
	}
	trainable := 0
	for _, p := range target.Params() {
		trainable += p.Param.W.Len()
	}
	if err := j.Config.Validate(); err != nil {
		return nil, err
	}

	// Everything is checked: from here on the output directory is written.
	if j.Resume == "" && j.OverwriteOutput {
		if err := clearRun(j.OutputDir); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(j.OutputDir, 0o755); err != nil {
		return nil, fmt.Errorf("--output-dir: %w", err)
	}
	tr := &train.Trainer{Config: j.Config, Model: runModel, Target: target, Train: loader, Eval: evalBatches, OutputDir: j.OutputDir, Replicas: j.Replicas}
	if j.Resume != "" {
		dir := j.Resume
		if dir == "latest" {
			if dir, err = train.LatestCheckpoint(j.OutputDir); err != nil {
				return nil, err
			}
			if dir == "" {
				return nil, fmt.Errorf("--resume: %s holds no checkpoint-N directory (was --save-steps set?)", j.OutputDir)
			}
		}
		if err := tr.Resume(dir); err != nil {
			return nil, err
		}
	}
	total := j.Config.TotalSteps(loader.StepsPerEpoch())
	res := &trainResult{Trainable: trainable, TrainRecords: stats}
	label := j.Label
	if label == "" {
		label = "train"
	}
	if !j.Quiet {
		what := j.Method
		if adapterCfg != nil {
			what = fmt.Sprintf("%s on %s", j.Method, describeTargets(adapterCfg))
		}
		fmt.Fprintf(stderr, "%s: %s (%s, %s parameters) · %s · %d trainable parameters (%.3g%%)\n", label, j.ModelDir, info.ModelType,
			humanCount(info.Parameters), what, trainable, 100*float64(trainable)/float64(info.Parameters))
		fmt.Fprintf(stderr, "%s: %d training examples (%d tokens, %d truncated), %d for evaluation · %d steps of %d×%d sequences\n",
			label, len(trainSet), stats.Tokens, stats.Truncated, len(evalSet), total, j.Config.BatchSize, j.Config.GradientAccumulationSteps)
	}
	tr.EvalBeforeTraining = true
	bar := newTrainProgress(stderr, label, total, j.Quiet)
	tr.Observe = bar.observe
	start := time.Now()
	state, err := tr.Run()
	bar.finish()
	res.State, res.Elapsed = state, time.Since(start)
	if err != nil {
		return res, err
	}
	if err := writeLossPlot(j.OutputDir, state.LogHistory, label); err != nil {
		return res, err
	}
	if err := atomicfile.WriteJSON(filepath.Join(j.OutputDir, "train_config.json"), j.settings()); err != nil {
		return res, err
	}
	if !j.Quiet {
		last := state.LogHistory
		msg := fmt.Sprintf("%s: done in %s: %d steps, %d tokens", label, res.Elapsed.Round(time.Second), state.GlobalStep, state.NumTokens)
		for i := len(last) - 1; i >= 0; i-- {
			if last[i].EvalLoss != nil {
				msg += fmt.Sprintf(", eval loss %.4f (perplexity %.2f)", *last[i].EvalLoss, *last[i].EvalPerplexity)
				break
			}
		}
		fmt.Fprintln(stderr, msg)
		fmt.Fprintf(stdout, "wrote %s\n", j.OutputDir)
	}
	return res, nil
}

func describeTargets(c peft.Config) string {
	t := c.Base().TargetModules
	if t.Pattern != "" {
		return t.Pattern
	}
	return strings.Join(t.Names, ",")
}

// clearRun removes what a previous run left in dir (it was checked to be
// one).
func clearRun(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("--overwrite-output-dir: %w", err)
		}
	}
	return nil
}

// settings returns the run's flags as a --config object.
func (j *trainJob) settings() map[string]any {
	c := j.Config
	s := map[string]any{
		"model": j.ModelDir, "data": j.DataPath, "method": j.Method, "max_seq_length": j.MaxSeqLength,
		"packing": j.Packing, "learning_rate": c.LearningRate, "num_train_epochs": c.NumTrainEpochs,
		"max_steps": c.MaxSteps, "per_device_train_batch_size": c.BatchSize,
		"gradient_accumulation_steps": c.GradientAccumulationSteps, "warmup_steps": c.WarmupSteps,
		"lr_scheduler_type": c.LRSchedulerType, "weight_decay": c.WeightDecay, "adam_beta1": c.AdamBeta1,
		"adam_beta2": c.AdamBeta2, "adam_epsilon": c.AdamEpsilon, "max_grad_norm": c.MaxGradNorm,
		"seed": c.Seed, "save_steps": c.SaveSteps, "eval_steps": c.EvalSteps, "logging_steps": c.LoggingSteps,
	}
	if j.EvalDataPath != "" {
		s["eval_data"] = j.EvalDataPath
	} else {
		s["validation_split"] = j.ValidationSplit
	}
	if j.TargetModules != "" {
		s["target_modules"] = j.TargetModules
	}
	switch j.Method {
	case "oft":
		s["oft_block_size"], s["oft_r"], s["coft"], s["eps"], s["block_share"] = j.OFTBlockSize, j.OFTR, j.COFT, j.Eps, j.BlockShare
		s["exact_cayley"], s["num_cayley_neumann_terms"], s["module_dropout"] = j.ExactCayley, j.NeumannTerms, j.ModuleDropout
	case "lora":
		s["lora_r"], s["lora_alpha"], s["lora_dropout"], s["use_rslora"] = j.LoraR, j.LoraAlpha, j.LoraDropout, j.UseRSLoRA
	}
	return s
}

// holdBase applies --base-dtype: with bf16, the frozen linear weights of m
// are held in bfloat16 (model.StoreBaseBF16).
func holdBase(m model.CausalLM, dtype, method string) error {
	switch strings.ToLower(dtype) {
	case "", "f32", "float32":
		return nil
	case "bf16", "bfloat16":
	default:
		return fmt.Errorf("--base-dtype %q: want f32 or bf16", dtype)
	}
	if method == "full" {
		return fmt.Errorf("--base-dtype bf16 holds frozen weights in bfloat16, and --method full trains every weight")
	}
	saved, err := model.StoreBaseBF16(m)
	if err != nil {
		return fmt.Errorf("--base-dtype bf16: %w", err)
	}
	// Hand the float32 copies back to the OS now: the point is a smaller
	// resident set, and the collector would otherwise keep the pages.
	debug.FreeOSMemory()
	slog.Info("frozen base weights held in bfloat16", "saved_mib", fmt.Sprintf("%.1f", float64(saved)/(1<<20)))
	return nil
}
