package demo

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

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/generate"
	"github.com/orthotune/orthotune/internal/atomicfile"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
	"github.com/orthotune/orthotune/tokenizer"
	"github.com/orthotune/orthotune/train"
)

// Version names the cache entry of the pretrained base model; bump it
// when the corpus, tokenizer or base model recipe changes.
const Version = "demo-base-v2"

// Options configure a demo run.
type Options struct {
	// OutputDir receives the task data and the adapter; it must be new or
	// empty ("": orthotune-demo in the system's temporary directory,
	// replaced at each run, so runs leave one directory behind, not one
	// each).
	OutputDir string
	// CacheDir holds the pretrained base model under Version.
	CacheDir string
	// Rebuild pretrains the base model again even if one is cached.
	Rebuild bool
	// PretrainSteps and FinetuneSteps are the two runs' lengths (0: 200
	// and 240).
	PretrainSteps, FinetuneSteps int
	// Log receives the demo's own progress lines; Reporter, if set, makes
	// the reporter of each training run.
	Log      io.Writer
	Reporter func() finetune.Reporter
}

// Report is what a demo run measured.
type Report struct {
	BaseDir, AdapterDir string // the base model, the OFT adapter
	LoRADir             string // the LoRA adapter trained beside it
	Trainable           int    // the OFT adapter's parameters
	LoRATrainable       int    // the LoRA adapter's parameters (rank LoRARank, matched to OFT's count)
	LoRARank            int
	Parameters          int // the base model's
	Steps               int // fine-tuning steps
	// Task and Text are the base model's, the OFT-adapted and the
	// LoRA-adapted model's evaluation on the task (held-out lead-in) and on
	// held-out corpus text (forgetting).
	Task, Text [3]train.EvalResult
	// Answers are greedy answers to every fact after the held-out lead-in.
	Answers []Answer
	Right   [3]int // correct colours: base, OFT, LoRA
	Elapsed time.Duration
}

// Answer is the base and the adapted model's greedy answer to one fact.
type Answer struct {
	Prompt, Base, Tuned, LoRA, Truth string // Tuned: with OFT
}

// Run is the built-in end-to-end demonstration: it pretrains (once,
// cached) a small base model on the generated corpus, fine-tunes an OFT
// adapter on the colour task, and evaluates and queries the base model and
// the adapted one.
func Run(ctx context.Context, opt Options) (*Report, error) {
	start := time.Now()
	if opt.PretrainSteps == 0 {
		opt.PretrainSteps = 200
	}
	if opt.FinetuneSteps == 0 {
		opt.FinetuneSteps = 240
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	baseDir := filepath.Join(opt.CacheDir, Version)
	if opt.Rebuild {
		if err := os.RemoveAll(baseDir); err != nil {
			return nil, err
		}
	}
	if err := checkBase(baseDir); err != nil {
		if !errors.Is(err, iofs.ErrNotExist) {
			fmt.Fprintf(opt.Log, "demo: the cached base model in %s is unusable (%v); rebuilding it\n", baseDir, err)
		}
		fmt.Fprintf(opt.Log, "demo: step 1/3 — pretraining the base model (once; cached in %s)\n", baseDir)
		if err := buildBase(ctx, baseDir, opt); err != nil {
			return nil, err
		}
	} else {
		fmt.Fprintf(opt.Log, "demo: step 1/3 — using the pretrained base model cached in %s\n", baseDir)
	}

	root := opt.OutputDir
	if root == "" {
		root = filepath.Join(os.TempDir(), "orthotune-demo")
		if err := os.RemoveAll(root); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(root, 0o755); err != nil {
			return nil, err
		}
	} else if err := checkNewDir(root); err != nil {
		return nil, err
	} else if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	taskTrain, taskEval := Task(4)
	trainPath, evalPath := filepath.Join(root, "task_train.jsonl"), filepath.Join(root, "task_eval.jsonl")
	if err := writeJSONL(trainPath, taskTrain); err != nil {
		return nil, err
	}
	if err := writeJSONL(evalPath, taskEval); err != nil {
		return nil, err
	}
	textEvalPath := filepath.Join(baseDir, "corpus_eval.jsonl")
	adapterDir := filepath.Join(root, "oft-adapter")

	fmt.Fprintf(opt.Log, "demo: step 2/3 — fine-tuning an OFT adapter and, beside it, LoRA with as many parameters on the colour task (%d training examples; evaluation uses a lead-in training never shows)\n", len(taskTrain))
	job := func(dir, name string, cfg peft.Config, lr float64) finetune.Job {
		j := finetune.NewJob(baseDir, trainPath, dir)
		j.EvalData, j.MaxSeqLength, j.EvalBatchSize, j.Name = evalPath, 64, 16, name
		j.Adapter = cfg
		c := &j.Training
		c.LearningRate, c.MaxSteps, c.WarmupSteps, c.LRSchedulerType = lr, opt.FinetuneSteps, 6, train.Cosine
		c.BatchSize, c.EvalSteps, c.LoggingSteps, c.Seed = 8, 60, 1, 7
		if opt.Reporter != nil {
			j.Report = opt.Reporter()
		}
		return j
	}
	cfg, err := adapter("oft", peft.Pattern(peft.AllLinear))
	if err != nil {
		return nil, err
	}
	res, err := finetune.Run(ctx, job(adapterDir, "finetune OFT", cfg, 5e-3))
	if err != nil {
		return nil, err
	}
	loraCfg, rank, err := matchedLoRA(baseDir, res.Trainable)
	if err != nil {
		return nil, err
	}
	loraDir := filepath.Join(root, "lora-adapter")
	loraRes, err := finetune.Run(ctx, job(loraDir, "finetune LoRA", loraCfg, 3e-3))
	if err != nil {
		return nil, err
	}

	fmt.Fprintln(opt.Log, "demo: step 3/3 — evaluating and generating with the base model and with each adapter")
	base, err := model.Load(baseDir)
	if err != nil {
		return nil, err
	}
	tuned, err := finetune.LoadForInference(baseDir, adapterDir)
	if err != nil {
		return nil, err
	}
	withLoRA, err := finetune.LoadForInference(baseDir, loraDir)
	if err != nil {
		return nil, err
	}
	models := []model.CausalLM{base, tuned, withLoRA}
	r := &Report{BaseDir: baseDir, AdapterDir: adapterDir, LoRADir: loraDir, Trainable: res.Trainable,
		LoRATrainable: loraRes.Trainable, LoRARank: rank, Parameters: base.Info().Parameters, Steps: res.State.GlobalStep}
	for _, set := range []struct {
		into *[3]train.EvalResult
		path string
	}{{&r.Task, evalPath}, {&r.Text, textEvalPath}} {
		for i, m := range models {
			batches, _, err := finetune.EvalBatches(m, baseDir, set.path, 64, 16)
			if err != nil {
				return nil, err
			}
			if set.into[i], err = train.Evaluate(m, batches); err != nil {
				return nil, fmt.Errorf("%s: %w", set.path, err)
			}
		}
	}
	tok, err := finetune.LoadTokenizer(baseDir, base.Info().Vocab)
	if err != nil {
		return nil, err
	}
	for _, f := range Facts() {
		a := Answer{Prompt: Prompt(len(Prefixes)-1, f.Object), Truth: f.Color}
		for i, m := range models {
			out, err := greedy(m, tok, a.Prompt, 6)
			if err != nil {
				return nil, err
			}
			out = firstLine(out)
			if strings.HasPrefix(out, " "+f.Color) {
				r.Right[i]++
			}
			*[]*string{&a.Base, &a.Tuned, &a.LoRA}[i] = out
		}
		r.Answers = append(r.Answers, a)
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// adapter returns a registered method's config for a new run (the train
// command's defaults: OFT with blocks of 32, LoRA r 8) on targets.
func adapter(method string, targets peft.ModuleList) (peft.Config, error) {
	m, ok := peft.LookupMethod(method)
	if !ok {
		return nil, fmt.Errorf("demo: the %s method is not registered (import peft/%s)", method, method)
	}
	cfg := m.TrainingConfig()
	cfg.Base().TargetModules = targets
	return cfg, nil
}

// matchedLoRA returns the LoRA config on every linear layer whose rank
// gives the trainable-parameter count nearest to budget, counted by
// building each candidate on the base model, and that rank.
func matchedLoRA(baseDir string, budget int) (peft.Config, int, error) {
	m, err := model.Load(baseDir)
	if err != nil {
		return nil, 0, err
	}
	bestRank, bestDiff := 0, -1
	for r := 1; r <= 64; r++ {
		cfg, err := loraOfRank(r)
		if err != nil {
			return nil, 0, err
		}
		a, err := peft.Wrap(m).Add(fmt.Sprintf("r%d", r), cfg, tensor.NewRNG(1))
		if err != nil {
			return nil, 0, err
		}
		n := a.CountParams()
		if diff := max(n-budget, budget-n); bestDiff < 0 || diff < bestDiff {
			bestDiff, bestRank = diff, r
		}
		if n > budget {
			break
		}
	}
	cfg, err := loraOfRank(bestRank)
	return cfg, bestRank, err
}

// loraOfRank is a new run's LoRA config on every linear layer with rank r,
// set by the setting's PEFT name.
func loraOfRank(r int) (peft.Config, error) {
	cfg, err := adapter("lora", peft.Pattern(peft.AllLinear))
	if err != nil {
		return nil, err
	}
	for _, s := range peft.Settings(cfg) {
		if s.Key == "r" {
			return cfg, s.Set(strconv.Itoa(r))
		}
	}
	return nil, errors.New("demo: the lora method has no setting r")
}

// greedy continues prompt with up to n tokens, greedily, through m's slots
// (an adapter, if m is one).
func greedy(m model.CausalLM, tok *tokenizer.Tokenizer, prompt string, n int) (string, error) {
	dec, ok := m.(model.Decoder)
	if !ok {
		return "", fmt.Errorf("model cannot generate")
	}
	var stops []int
	if id, ok := tok.EOS(); ok {
		stops = append(stops, id)
	}
	ids, err := generate.Generate(dec, tok.EncodeSpecial(prompt), generate.Options{MaxNewTokens: n, StopIDs: stops})
	if err != nil {
		return "", err
	}
	return tok.Decode(ids, true), nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// checkBase reports whether dir holds a complete demo base model.
func checkBase(dir string) error {
	for _, name := range []string{"config.json", "model.safetensors", "tokenizer.json", "corpus_eval.jsonl", "demo.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	m, err := model.Load(dir)
	if err != nil {
		return err
	}
	_, err = finetune.LoadTokenizer(dir, m.Info().Vocab)
	return err
}

// buildBase pretrains the demo's base model and moves it into dir.
func buildBase(ctx context.Context, dir string, opt Options) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".build-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	corpus := Corpus(6000, 1)
	heldOut := Corpus(200, 2)
	const special = "<|endoftext|>"
	tok := tokenizer.TrainByteLevelBPE(corpus, BaseModel.Vocab, []string{special})
	for _, role := range []string{"bos_token", "eos_token"} { // GPT-2's convention: one token for both
		if err := tok.SetSpecialToken(role, special); err != nil {
			return err
		}
	}
	initDir := filepath.Join(work, "init")
	if err := os.MkdirAll(initDir, 0o755); err != nil {
		return err
	}
	if err := tok.WriteFile(initDir); err != nil {
		return err
	}
	eos, _ := tok.TokenID(special)
	spec := BaseModel
	spec.Vocab = (tok.VocabSize() + 63) / 64 * 64
	if err := WriteInitialModel(initDir, spec, eos, eos, 1); err != nil {
		return err
	}
	textTrain, textEval := filepath.Join(work, "corpus_train.jsonl"), filepath.Join(work, "corpus_eval.jsonl")
	if err := writeTexts(textTrain, corpus); err != nil {
		return err
	}
	if err := writeTexts(textEval, heldOut); err != nil {
		return err
	}
	out := filepath.Join(work, "base")
	j := finetune.NewJob(initDir, textTrain, out) // no Adapter: every weight
	j.EvalData, j.MaxSeqLength, j.Packing, j.EvalBatchSize, j.Name = textEval, 64, true, 16, "pretrain"
	c := &j.Training
	c.LearningRate, c.MaxSteps, c.WarmupSteps, c.LRSchedulerType = 3e-3, opt.PretrainSteps, 20, train.Cosine
	c.BatchSize, c.EvalSteps, c.LoggingSteps, c.WeightDecay, c.Seed = 16, 80, 1, 0.01, 1
	if opt.Reporter != nil {
		j.Report = opt.Reporter()
	}
	if _, err := finetune.Run(ctx, j); err != nil {
		return err
	}
	if err := copyInto(textEval, filepath.Join(out, "corpus_eval.jsonl")); err != nil {
		return err
	}
	stamp, _ := json.MarshalIndent(map[string]any{"version": Version, "pretrain_steps": opt.PretrainSteps, "corpus_paragraphs": len(corpus)}, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "demo.json"), append(stamp, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(out, dir)
}

// checkNewDir accepts a path that does not exist or is an empty directory.
func checkNewDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("output directory %s: %w", dir, err)
	case len(entries) > 0:
		return fmt.Errorf("output directory %s exists and is not empty (it holds %s); choose a new or empty directory", dir, entries[0].Name())
	}
	return nil
}

// writeJSONL writes one JSON line per record.
func writeJSONL[T any](path string, records []T) error {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for _, r := range records {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return atomicfile.WriteBytes(path, []byte(b.String()))
}

// writeTexts writes {"text": ...} records.
func writeTexts(path string, texts []string) error {
	recs := make([]map[string]string, len(texts))
	for i, t := range texts {
		recs[i] = map[string]string{"text": t}
	}
	return writeJSONL(path, recs)
}

func copyInto(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(dst, b)
}
