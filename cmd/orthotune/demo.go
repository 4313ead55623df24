package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/generate"
	"github.com/orthotune/orthotune/internal/atomicfile"
	"github.com/orthotune/orthotune/internal/demo"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tokenizer"
	"github.com/orthotune/orthotune/train"
)

const demoSynopsis = "demo [--output-dir DIR] [--cache-dir DIR] [--rebuild]\n\n" +
	"The built-in end-to-end run, on nothing but this binary. The first time, it pretrains a small\n" +
	"Llama-architecture base model (about 0.4 M parameters, a byte-level BPE tokenizer trained on the\n" +
	"same text) on a corpus that code generates, and caches it in the user cache directory; later runs\n" +
	"reuse it (--rebuild makes a new one). Then it fine-tunes an OFT adapter on a second built-in task —\n" +
	"questions about facts the corpus never states, evaluated in a phrasing training never shows —\n" +
	"and prints the evaluation loss before and after, how much the base text's loss moved (forgetting),\n" +
	"and sample answers before and after. Everything it writes is an ordinary orthotune run: the base\n" +
	"model is a Hugging Face directory, the adapter a PEFT directory, both usable with every command."

// demoVersion names the cache entry; bump it when the corpus, tokenizer
// or base model recipe changes.
const demoVersion = "demo-base-v2"

// demoSteps are the pretraining and fine-tuning lengths (optimizer steps).
var demoSteps = struct{ pretrain, finetune int }{pretrain: 200, finetune: 240}

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo")
	outDir := fs.String("output-dir", "", "where to write the task data and the adapter (default: a new temporary directory)")
	cacheDir := fs.String("cache-dir", "", "where the pretrained base model is cached (default: the user cache directory)/orthotune")
	rebuild := fs.Bool("rebuild", false, "pretrain the base model again even if a cached one exists")
	if _, err := parseFlags(fs, demoSynopsis, args, 0, 0, stdout, stderr); err != nil {
		return err
	}
	start := time.Now()
	if *cacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("no user cache directory (%w); pass --cache-dir", err)
		}
		*cacheDir = filepath.Join(dir, "orthotune")
	}
	baseDir := filepath.Join(*cacheDir, demoVersion)
	if *rebuild {
		if err := os.RemoveAll(baseDir); err != nil {
			return err
		}
	}
	if err := checkDemoBase(baseDir); err != nil {
		if !errors.Is(err, iofs.ErrNotExist) {
			fmt.Fprintf(stderr, "demo: the cached base model in %s is unusable (%v); rebuilding it\n", baseDir, err)
		}
		fmt.Fprintf(stderr, "demo: step 1/3 — pretraining the base model (once; cached in %s)\n", baseDir)
		if err := buildDemoBase(baseDir, stdout, stderr); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stderr, "demo: step 1/3 — using the pretrained base model cached in %s\n", baseDir)
	}

	root := *outDir
	if root == "" {
		dir, err := os.MkdirTemp("", "orthotune-demo-*")
		if err != nil {
			return err
		}
		root = dir
	} else if err := checkNewDir(root); err != nil {
		return err
	} else if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	taskTrain, taskEval := demo.Task(4)
	trainPath, evalPath := filepath.Join(root, "task_train.jsonl"), filepath.Join(root, "task_eval.jsonl")
	if err := writeJSONL(trainPath, taskTrain); err != nil {
		return err
	}
	if err := writeJSONL(evalPath, taskEval); err != nil {
		return err
	}
	textEvalPath := filepath.Join(baseDir, "corpus_eval.jsonl")
	adapterDir := filepath.Join(root, "oft-adapter")

	fmt.Fprintf(stderr, "demo: step 2/3 — fine-tuning an OFT adapter on the colour task (%d training examples; evaluation uses a lead-in training never shows)\n", len(taskTrain))
	j := finetune.NewJob(baseDir, trainPath, adapterDir)
	j.EvalData, j.MaxSeqLength, j.EvalBatchSize, j.Name = evalPath, 64, 16, "finetune"
	j.Adapter = demoAdapter()
	c := &j.Training
	c.LearningRate, c.MaxSteps, c.WarmupSteps, c.LRSchedulerType = 5e-3, demoSteps.finetune, 6, train.Cosine
	c.BatchSize, c.EvalSteps, c.LoggingSteps, c.Seed = 8, 60, 1, 7
	res, err := runQuietly(j, stderr)
	if err != nil {
		return err
	}

	fmt.Fprintln(stderr, "demo: step 3/3 — evaluating and generating with the base model and with the adapter")
	base, err := model.Load(baseDir)
	if err != nil {
		return err
	}
	tuned, err := finetune.LoadForInference(baseDir, adapterDir)
	if err != nil {
		return err
	}
	figures := map[string][2]train.EvalResult{}
	for _, set := range []struct{ name, path string }{{"task", evalPath}, {"text", textEvalPath}} {
		var pair [2]train.EvalResult
		for i, m := range []model.CausalLM{base, tuned} {
			batches, _, err := finetune.EvalBatches(m, baseDir, set.path, 64, 16)
			if err != nil {
				return err
			}
			if pair[i], err = train.Evaluate(m, batches); err != nil {
				return fmt.Errorf("%s: %w", set.path, err)
			}
		}
		figures[set.name] = pair
	}
	tok, err := finetune.LoadTokenizer(baseDir, base.Info().Vocab)
	if err != nil {
		return err
	}
	task, text := figures["task"], figures["text"]
	fmt.Fprintf(stdout, "\northotune demo — OFT (block 32, every linear layer, %d trainable parameters, %.2g%% of the model), %d steps\n\n",
		res.Trainable, 100*float64(res.Trainable)/float64(base.Info().Parameters), res.State.GlobalStep)
	fmt.Fprintf(stdout, "  %-44s %10s %10s\n", "", "base", "with OFT")
	fmt.Fprintf(stdout, "  %-44s %10.3f %10.3f\n", "task loss (held-out lead-in), nats/token", task[0].Loss, task[1].Loss)
	fmt.Fprintf(stdout, "  %-44s %10.2f %10.2f\n", "task perplexity", task[0].Perplexity, task[1].Perplexity)
	fmt.Fprintf(stdout, "  %-44s %10.3f %10.3f   (%+.0f%%: what the fine-tune cost the base text)\n", "base-text loss (forgetting), nats/token", text[0].Loss, text[1].Loss,
		100*(text[1].Loss-text[0].Loss)/text[0].Loss)
	fmt.Fprintln(stdout, "\n  sample answers (greedy), after the held-out lead-in:")
	facts := demo.Facts()
	right := [2]int{}
	for k, f := range facts {
		prompt := demo.Prompt(len(demo.Prefixes)-1, f.Object)
		var answers [2]string
		for i, m := range []model.CausalLM{base, tuned} {
			out, err := greedy(m, tok, prompt, 6)
			if err != nil {
				return err
			}
			answers[i] = firstLine(out)
			if strings.HasPrefix(answers[i], " "+f.Color) {
				right[i]++
			}
		}
		if k < 4 {
			fmt.Fprintf(stdout, "  %-26s base: %-20q with OFT: %-14q (true: %s)\n", prompt, answers[0], answers[1], f.Color)
		}
	}
	fmt.Fprintf(stdout, "\n  correct colours over all %d facts: base %d, with OFT %d\n", len(facts), right[0], right[1])
	fmt.Fprintf(stdout, "\n  adapter (PEFT format): %s\n  try:  orthotune generate --model %s --adapter %s --prompt %q\n",
		adapterDir, baseDir, adapterDir, demo.Prompt(len(demo.Prefixes)-1, "kite"))
	fmt.Fprintf(stdout, "  done in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// demoAdapter is the demo's adapter: OFT with blocks of 32 on every
// linear layer, every other setting the train command's default.
func demoAdapter() peft.Config {
	m, _ := peft.LookupMethod("oft")
	cfg := m.TrainingConfig()
	cfg.Base().TargetModules = peft.Pattern(peft.AllLinear)
	return cfg
}

// runQuietly runs a job with its progress on stderr and nothing on
// stdout (the demo prints its own summary).
func runQuietly(j finetune.Job, stderr io.Writer) (*finetune.Result, error) {
	rep := newTrainReporter(io.Discard, stderr)
	j.Report = rep
	res, err := finetune.Run(context.Background(), j)
	rep.close()
	return res, err
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

// checkDemoBase reports whether dir holds a complete demo base model.
func checkDemoBase(dir string) error {
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

// buildDemoBase pretrains the demo's base model and moves it into dir.
func buildDemoBase(dir string, stdout, stderr io.Writer) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".build-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	corpus := demo.Corpus(6000, 1)
	heldOut := demo.Corpus(200, 2)
	const special = "<|endoftext|>"
	tok := tokenizer.TrainByteLevelBPE(corpus, demo.BaseModel.Vocab, []string{special})
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
	spec := demo.BaseModel
	spec.Vocab = (tok.VocabSize() + 63) / 64 * 64
	if err := demo.WriteInitialModel(initDir, spec, eos, eos, 1); err != nil {
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
	c.LearningRate, c.MaxSteps, c.WarmupSteps, c.LRSchedulerType = 3e-3, demoSteps.pretrain, 20, train.Cosine
	c.BatchSize, c.EvalSteps, c.LoggingSteps, c.WeightDecay, c.Seed = 16, 80, 1, 0.01, 1
	if _, err := runQuietly(j, stderr); err != nil {
		return err
	}
	if err := copyInto(textEval, filepath.Join(out, "corpus_eval.jsonl")); err != nil {
		return err
	}
	stamp, _ := json.MarshalIndent(map[string]any{"version": demoVersion, "pretrain_steps": demoSteps.pretrain, "corpus_paragraphs": len(corpus)}, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "demo.json"), append(stamp, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(out, dir)
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
