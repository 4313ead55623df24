package finetune

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/internal/atomicfile"
	"github.com/orthotune/orthotune/internal/runlock"
	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
	"github.com/orthotune/orthotune/train"
)

// AdapterName is the name a run gives the adapter it trains, and the
// commands the adapter they load, as PEFT does for a single adapter.
const AdapterName = "default"

// TrainConfigFile is the file in an output directory that records every
// setting of the run, readable back as a settings file.
const TrainConfigFile = "train_config.json"

// FullMethod is the method name of full fine-tuning (every weight).
const FullMethod = "full"

// Job is one fine-tuning run: a model directory, data, an adapter method's
// config and the training settings, written to an output directory. Start
// from NewJob, which holds the defaults.
type Job struct {
	// Model is a Hugging Face model directory: config.json, safetensors
	// weights and, for text data, tokenizer.json.
	Model string
	// Data is the training data, JSONL: "text", "prompt"+"completion",
	// "messages" or "input_ids" records.
	Data string
	// EvalData is the evaluation data, JSONL; "" holds out
	// ValidationSplit of Data instead (0: no evaluation).
	EvalData        string
	ValidationSplit float64
	// OutputDir receives the adapter (or, for full fine-tuning, the model),
	// metrics.jsonl, trainer_state.json, loss.svg, train_config.json and
	// the checkpoints. It must be new or empty, or hold a previous run to
	// resume or (OverwriteOutputDir) replace.
	OutputDir string
	// Adapter is the method's config, e.g. oft.NewConfig(targets); nil
	// trains every weight of the model (full fine-tuning, for comparison).
	// Unset target modules take PEFT's default for the architecture. Run
	// writes the targets it resolves into the config ("all-linear"
	// expanded to the layer names, as PEFT saves them).
	Adapter peft.Config
	// Training holds the optimisation settings (train.DefaultConfig).
	Training train.Config
	// MaxSeqLength truncates (or packs) sequences; 0: min(1024, the
	// model's context).
	MaxSeqLength int
	// Packing packs short examples into full MaxSeqLength rows.
	Packing bool
	// AssistantOnlyLoss trains "messages" records on assistant turns only.
	AssistantOnlyLoss bool
	// ChatTemplateKwargs are further variables the chat template sees when
	// it renders "messages" records, as transformers'
	// apply_chat_template(..., **kwargs) passes them: Qwen3's
	// enable_thinking, tools, a date_string (see ChatRenderer.SetTemplateVars
	// for how values are given to the template). nil: none.
	ChatTemplateKwargs map[string]any
	// EvalBatchSize is the number of sequences per evaluation batch.
	EvalBatchSize int
	// Resume continues a previous run: "latest" (the newest checkpoint in
	// OutputDir) or a checkpoint directory; "": a new run.
	Resume string
	// OverwriteOutputDir replaces a previous run in OutputDir.
	OverwriteOutputDir bool
	// ResumeIgnoreChanges resumes even when the model, the data or a
	// setting differs from the checkpoint's (logged); otherwise Run
	// refuses, naming what changed.
	ResumeIgnoreChanges bool
	// BaseDType is how frozen base weights are held in memory: "f32" or
	// "bf16" (half the memory; widened to float32 for each product).
	BaseDType string
	// Replicas is the number of model replicas each step's rows are split
	// among (see train.Trainer.Replicas); 0: one per thread where possible.
	Replicas int
	// Name labels the run in progress reports and the loss plot.
	Name string
	// Report, if set, is told what the run will do, each step, evaluation
	// and checkpoint, and the result.
	Report Reporter
}

// NewJob returns a job with the defaults of `orthotune train`: an OFT
// adapter is not implied (set Adapter), a tenth of the data held out for
// evaluation, evaluation batches of 8, float32 base weights and
// train.DefaultConfig's training settings.
func NewJob(modelDir, dataPath, outputDir string) Job {
	return Job{Model: modelDir, Data: dataPath, OutputDir: outputDir, ValidationSplit: 0.1, EvalBatchSize: 8,
		Training: train.DefaultConfig(), BaseDType: "f32", Name: "train"}
}

// Reporter follows a run: Begin once everything is checked and loaded,
// Observe for every step, evaluation and checkpoint, End when the run has
// written its output.
type Reporter interface {
	Begin(Plan)
	Observe(train.Event)
	End(Result)
}

// Plan is what a run is about to do.
type Plan struct {
	Name       string     // the job's Name
	Model      string     // the model directory
	Info       model.Info // the model's architecture and size
	Method     string     // the method's name, or FullMethod
	Targets    string     // the adapted modules ("" for full fine-tuning)
	Trainable  int        // trainable parameters
	Train      data.Stats // the training records as read
	Dropped    int        // training records left with no target token by truncation, not trained on
	TrainRows  int        // training examples (after the split and packing)
	EvalRows   int        // evaluation examples
	Steps      int        // optimizer steps in the run
	Resumed    bool       // continuing from a checkpoint
	BatchSize  int
	Accumulate int
}

// Result is what a finished run reports.
type Result struct {
	State     train.State   // the trainer's final state (steps, tokens, log)
	Trainable int           // trainable parameters
	Train     data.Stats    // the training records as read
	Elapsed   time.Duration // wall time of the training loop
	OutputDir string
}

// Run carries out the job: it checks the output directory, loads the model
// and its tokenizer, reads, splits and packs the data, builds the adapter
// (or trains every weight), holds the base as asked, resumes if asked,
// trains, and writes the trained artefact, trainer_state.json,
// metrics.jsonl, loss.svg and train_config.json into OutputDir. Nothing is
// written before every input has been read and checked.
//
// Cancelling ctx stops the run between two steps and writes a checkpoint
// at the step reached; Run then returns a *train.InterruptedError, and a
// job with Resume "latest" finishes bit-identical to an uninterrupted run.
func Run(ctx context.Context, job Job) (*Result, error) {
	if job.Name == "" {
		job.Name = "train"
	}
	if job.Replicas < 0 {
		return nil, fmt.Errorf("replicas %d: want ≥ 0 (0: one per thread where possible)", job.Replicas)
	}
	if err := CheckTemplateVars(job.ChatTemplateKwargs); err != nil {
		return nil, err
	}
	if h, err := runlock.Check(job.OutputDir); err != nil || h != nil {
		if err == nil {
			err = &runlock.BusyError{Dir: job.OutputDir, Holder: *h}
		}
		return nil, fmt.Errorf("output_dir: %w", err)
	}
	abandoned, err := checkOutputDir(job)
	if err != nil {
		return nil, err
	}
	m, err := model.Load(job.Model)
	if err != nil {
		return nil, err
	}
	info := m.Info()
	tok, err := LoadTokenizer(job.Model, info.Vocab)
	if err != nil {
		return nil, err
	}
	if job.MaxSeqLength == 0 {
		job.MaxSeqLength = min(1024, info.MaxPositions)
	}
	if info.MaxPositions > 0 && job.MaxSeqLength > info.MaxPositions {
		return nil, fmt.Errorf("max_seq_length %d exceeds the model's context of %d positions (%s)", job.MaxSeqLength, info.MaxPositions, filepath.Join(job.Model, "config.json"))
	}
	if job.MaxSeqLength < 2 {
		return nil, fmt.Errorf("max_seq_length %d: want at least 2", job.MaxSeqLength)
	}
	opts := data.Options{MaxSeqLength: job.MaxSeqLength, VocabSize: info.Vocab, AssistantOnly: job.AssistantOnlyLoss}
	if tok != nil {
		r := NewChatRenderer(tok)
		r.SetTemplateVars(job.ChatTemplateKwargs)
		opts.Tokenizer, opts.Chat = tok, r
	}
	trainSet, stats, err := data.ReadJSONL(job.Data, opts)
	if err != nil {
		return nil, err
	}
	trainSet, dropped := dropUntrainable(trainSet, job.Data, job.MaxSeqLength)
	if len(trainSet) == 0 {
		return nil, fmt.Errorf("%s: no record has a target token within max_seq_length %d (prompts fill every row): nothing to train on", job.Data, job.MaxSeqLength)
	}
	var evalSet []data.Example
	switch {
	case job.EvalData != "":
		if evalSet, _, err = data.ReadJSONL(job.EvalData, opts); err != nil {
			return nil, err
		}
		evalSet, _ = dropUntrainable(evalSet, job.EvalData, job.MaxSeqLength)
	case job.ValidationSplit > 0 && len(trainSet) > 1:
		if job.ValidationSplit >= 1 {
			return nil, fmt.Errorf("validation_split %v: want a fraction in [0, 1)", job.ValidationSplit)
		}
		trainSet, evalSet = data.Split(trainSet, job.ValidationSplit, job.Training.Seed)
	}
	if job.Packing {
		trainSet = data.Pack(trainSet, job.MaxSeqLength)
		if len(trainSet) == 0 {
			return nil, fmt.Errorf("%s: too few tokens to fill one packed row of %d", job.Data, job.MaxSeqLength)
		}
	}
	pad := PadID(tok)
	loader := data.NewLoader(trainSet, job.Training.BatchSize, true, job.Training.Seed, pad)
	evalBatches := InOrder(evalSet, job.EvalBatchSize, pad)

	plan := Plan{Name: job.Name, Model: job.Model, Info: info, Method: FullMethod, Train: stats, Dropped: dropped, TrainRows: len(trainSet),
		EvalRows: len(evalSet), BatchSize: job.Training.BatchSize, Accumulate: job.Training.GradientAccumulationSteps,
		Resumed: job.Resume != ""}
	settings := jobSettings(job)
	var target train.Target
	var runModel model.CausalLM = m
	if job.Adapter == nil {
		ckpt, err := safetensors.OpenCheckpoint(job.Model)
		if err != nil {
			return nil, err
		}
		defer ckpt.Close()
		target = train.FullTarget(m, ckpt)
	} else {
		pm, a, err := addAdapter(m, job.Adapter, job.Training.Seed)
		if err != nil {
			return nil, err
		}
		plan.Method, plan.Targets = settings["method"].(string), describeTargets(a.Config)
		runModel, target = pm, train.AdapterTarget(a)
	}
	if err := holdBase(runModel, job.BaseDType, job.Adapter == nil); err != nil {
		return nil, err
	}
	for _, p := range target.Params() {
		plan.Trainable += p.Param.W.Len()
	}
	if err := job.Training.Validate(); err != nil {
		return nil, err
	}

	fp, err := fingerprint(job, settings)
	if err != nil {
		return nil, err
	}
	tr := &train.Trainer{Config: job.Training, Model: runModel, Target: target, Train: loader, Eval: evalBatches,
		OutputDir: job.OutputDir, Replicas: job.Replicas, EvalBeforeTraining: true,
		Fingerprint: fp, IgnoreChanges: job.ResumeIgnoreChanges}
	if job.Resume != "" {
		dir := job.Resume
		if dir == "latest" {
			if dir, err = train.LatestCheckpoint(job.OutputDir); err != nil {
				return nil, err
			}
			if dir == "" {
				return nil, fmt.Errorf("resume: %s holds no checkpoint-N directory (was save_steps set?)", job.OutputDir)
			}
		}
		if err := tr.Resume(dir); err != nil {
			return nil, err
		}
	}

	// Everything is checked: from here on the output directory is written,
	// by this process alone (a lock other runs see, here or on another
	// machine sharing the directory).
	_, statErr := os.Stat(job.OutputDir)
	created := errors.Is(statErr, iofs.ErrNotExist)
	if err := os.MkdirAll(job.OutputDir, 0o755); err != nil {
		return nil, fmt.Errorf("output_dir: %w", err)
	}
	lock, err := runlock.Acquire(job.OutputDir)
	if err != nil {
		if created {
			os.Remove(job.OutputDir) // only if still empty
		}
		return nil, fmt.Errorf("output_dir: %w", err)
	}
	defer lock.Release()
	if job.Resume == "" && (job.OverwriteOutputDir || abandoned) {
		if abandoned {
			slog.Info("output_dir holds a run that stopped before its first checkpoint; starting afresh", "dir", job.OutputDir)
		}
		if err := clearRun(job.OutputDir); err != nil {
			return nil, err
		}
	}
	plan.Steps = job.Training.TotalSteps(loader.StepsPerEpoch())
	res := &Result{Trainable: plan.Trainable, Train: stats, OutputDir: job.OutputDir}
	if job.Report != nil {
		job.Report.Begin(plan)
		tr.Observe = job.Report.Observe
	}
	start := time.Now()
	state, err := tr.Run(ctx)
	res.State, res.Elapsed = state, time.Since(start)
	if err != nil {
		if job.Resume == "" {
			discardUnsaved(job.OutputDir, created)
		}
		return res, err
	}
	if err := WriteLossPlot(job.OutputDir, state.LogHistory, job.Name); err != nil {
		return res, err
	}
	if err := atomicfile.WriteJSON(filepath.Join(job.OutputDir, TrainConfigFile), settings); err != nil {
		return res, err
	}
	if job.Report != nil {
		job.Report.End(*res)
	}
	return res, nil
}

// addAdapter wraps m and adds a fresh adapter from cfg, its targets
// defaulting to PEFT's for the architecture, initialised from seed.
func addAdapter(m model.CausalLM, cfg peft.Config, seed uint64) (*peft.Model, *peft.Adapter, error) {
	name := cfg.Base().PeftType
	if meth, ok := peft.MethodOf(cfg); ok {
		name = meth.Name
	}
	if !cfg.Base().TargetModules.IsSet {
		t, err := peft.DefaultTargets(m.Info().ModelType)
		if err != nil {
			return nil, nil, err
		}
		cfg.Base().TargetModules = t
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	pm := peft.Wrap(m)
	a, err := pm.Add(AdapterName, cfg, tensor.NewRNG(seed))
	if err != nil {
		return nil, nil, err
	}
	return pm, a, nil
}

func describeTargets(c peft.Config) string {
	t := c.Base().TargetModules
	if t.Pattern != "" {
		return t.Pattern
	}
	return strings.Join(t.Names, ",")
}

// jobSettings returns the run's settings as a settings object, named as
// the command line's flags with underscores (train_config.json).
func jobSettings(job Job) map[string]any {
	c := job.Training
	method := FullMethod
	if job.Adapter != nil {
		method = job.Adapter.Base().PeftType
		if m, ok := peft.MethodOf(job.Adapter); ok {
			method = m.Name
		}
	}
	s := map[string]any{
		"model": absPath(job.Model), "data": absPath(job.Data), "method": method, "max_seq_length": job.MaxSeqLength,
		"packing": job.Packing, "learning_rate": c.LearningRate, "num_train_epochs": c.NumTrainEpochs,
		"max_steps": c.MaxSteps, "per_device_train_batch_size": c.BatchSize,
		"gradient_accumulation_steps": c.GradientAccumulationSteps, "warmup_steps": c.WarmupSteps,
		"lr_scheduler_type": c.LRSchedulerType, "weight_decay": c.WeightDecay, "adam_beta1": c.AdamBeta1,
		"adam_beta2": c.AdamBeta2, "adam_epsilon": c.AdamEpsilon, "max_grad_norm": c.MaxGradNorm,
		"seed": c.Seed, "save_steps": c.SaveSteps, "eval_steps": c.EvalSteps, "logging_steps": c.LoggingSteps,
		"save_total_limit": c.SaveTotalLimit, "gradient_checkpointing": c.GradientCheckpointing,
		"assistant_only_loss": job.AssistantOnlyLoss, "base_dtype": job.BaseDType, "per_device_eval_batch_size": job.EvalBatchSize,
		"replicas": effectiveReplicas(job),
	}
	if len(job.ChatTemplateKwargs) > 0 {
		s["chat_template_kwargs"] = job.ChatTemplateKwargs
	}
	if job.EvalData != "" {
		s["eval_data"] = absPath(job.EvalData)
	} else {
		s["validation_split"] = job.ValidationSplit
	}
	if job.Adapter != nil {
		if t := job.Adapter.Base().TargetModules; t.IsSet {
			s["target_modules"] = peft.FormatTargets(t)
		}
		for k, v := range peft.SettingValues(job.Adapter) {
			s[k] = v
		}
	}
	return s
}

// absPath makes a path in the settings work from any directory.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// effectiveReplicas is the number of replicas a run splits its steps
// among (see train.Trainer.Replicas), so that the settings reproduce the
// run on a machine with another number of cores. A model that cannot be
// replicated runs on one whatever this says.
func effectiveReplicas(job Job) int {
	n := train.DefaultReplicas(job.Replicas, job.Training.GradientCheckpointing)
	if n < 1 {
		n = kernels.Threads()
	}
	return n
}

// checkOutputDir accepts a new or empty directory, a previous run when
// resuming or overwriting, and a run that stopped before its first
// checkpoint (abandoned: nothing to resume, so a new run replaces it); it
// refuses anything else.
func checkOutputDir(job Job) (abandoned bool, err error) {
	dir := job.OutputDir
	if dir == "" {
		return false, errors.New("output_dir is not set")
	}
	entries, err := os.ReadDir(dir)
	entries = slices.DeleteFunc(entries, func(e iofs.DirEntry) bool { return e.Name() == runlock.FileName }) // a stale lock
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		if job.Resume == "latest" {
			return false, fmt.Errorf("resume: output_dir %s does not exist; there is nothing to resume", dir)
		}
		return false, nil
	case err != nil:
		if fi, serr := os.Stat(dir); serr == nil && !fi.IsDir() {
			return false, fmt.Errorf("output_dir %s exists and is not a directory", dir)
		}
		return false, fmt.Errorf("output_dir %s: %w", dir, err)
	case len(entries) == 0:
		return false, nil
	case !train.IsOutputDir(dir):
		return false, fmt.Errorf("output_dir %s holds other files (%s, …) and no orthotune run; refusing to write into it: choose a new or empty directory", dir, entries[0].Name())
	case neverCheckpointed(dir):
		return job.Resume == "", nil
	case job.Resume == "" && !job.OverwriteOutputDir:
		return false, fmt.Errorf("output_dir %s holds a previous run; resume it (resume) or start over (overwrite_output_dir)", dir)
	}
	return false, nil
}

// neverCheckpointed reports whether dir holds a run that stopped before it
// wrote a checkpoint or its final state: nothing there can be resumed.
func neverCheckpointed(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, train.StateFile)); err == nil {
		return false
	}
	steps, err := train.Checkpoints(dir)
	return err == nil && len(steps) == 0
}

// discardUnsaved removes what a new run that failed before its first
// checkpoint wrote, so that it does not block the next run: the directory
// itself when the run created it, else its contents. A run with a
// checkpoint is left for resuming.
func discardUnsaved(dir string, created bool) {
	if !neverCheckpointed(dir) {
		return
	}
	if created {
		os.RemoveAll(dir)
		return
	}
	_ = clearRun(dir)
}

// dropUntrainable removes examples with no target token (a prompt that
// fills max_seq_length leaves its completion truncated away), as
// transformers' collators and TRL do, and logs how many there were.
func dropUntrainable(examples []data.Example, path string, maxSeq int) ([]data.Example, int) {
	kept := examples[:0:0]
	for _, e := range examples {
		if hasTarget(e) {
			kept = append(kept, e)
		}
	}
	dropped := len(examples) - len(kept)
	if dropped > 0 {
		slog.Warn("records with no target token left after truncation are not used", "file", path, "records", dropped, "max_seq_length", maxSeq)
	}
	return kept, dropped
}

// hasTarget reports whether an example has a token to predict: a label
// other than data.IgnoreIndex at a position after the first.
func hasTarget(e data.Example) bool {
	for t := 1; t < len(e.Labels) && t < len(e.InputIDs); t++ {
		if e.Labels[t] != data.IgnoreIndex {
			return true
		}
	}
	return false
}

// clearRun removes what a previous run left in dir (it was checked to be
// one).
func clearRun(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == runlock.FileName {
			continue // this run's own lock
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("overwrite_output_dir: %w", err)
		}
	}
	return nil
}

// holdBase applies base_dtype: with bf16, the frozen linear weights of m
// are held in bfloat16 (model.StoreBaseBF16).
func holdBase(m model.CausalLM, dtype string, full bool) error {
	switch strings.ToLower(dtype) {
	case "", "f32", "float32":
		return nil
	case "bf16", "bfloat16":
	default:
		return fmt.Errorf("base_dtype %q: want f32 or bf16", dtype)
	}
	if full {
		return fmt.Errorf("base_dtype bf16 holds frozen weights in bfloat16, and full fine-tuning trains every weight")
	}
	saved, err := model.StoreBaseBF16(m)
	if err != nil {
		return fmt.Errorf("base_dtype bf16: %w", err)
	}
	// Hand the float32 copies back to the OS now: the point is a smaller
	// resident set, and the collector would otherwise keep the pages.
	debug.FreeOSMemory()
	slog.Info("frozen base weights held in bfloat16", "saved_mib", fmt.Sprintf("%.1f", float64(saved)/(1<<20)))
	return nil
}
