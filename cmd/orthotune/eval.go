package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/train"
)

const evalSynopsis = "eval --model DIR [--adapter DIR] --data FILE.jsonl [flags]\n\n" +
	"Mean next-token loss and perplexity of the model (through the adapter, if given) on a JSONL\n" +
	"data set in any of train's record formats (loss on completions only for prompt/completion\n" +
	"records), and how many target tokens were scored."

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval")
	modelDir := fs.String("model", "", "Hugging Face model directory")
	adapterDir := fs.String("adapter", "", "PEFT adapter directory (default: the model alone)")
	series := seriesFlag(fs)
	dataPath := fs.String("data", "", "evaluation data, JSONL")
	maxSeq := fs.Int("max-seq-length", 0, "truncate sequences to this many tokens (default: min(1024, the model's context))")
	batch := fs.Int("per-device-eval-batch-size", 8, "sequences per batch")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	if _, err := parseFlags(fs, evalSynopsis, args, 0, 0, stdout, stderr); err != nil {
		return err
	}
	if err := requireFlags(fs, evalSynopsis, stderr, "model", "data"); err != nil {
		return err
	}
	if *batch < 1 {
		return usageError(fs, evalSynopsis, stderr, "--per-device-eval-batch-size %d: want ≥ 1", *batch)
	}
	m, err := loadForInference(*modelDir, *adapterDir, *series)
	if err != nil {
		return err
	}
	batches, examples, err := evalBatches(m, *modelDir, *dataPath, *maxSeq, *batch)
	if err != nil {
		return err
	}
	res, err := train.Evaluate(m, batches)
	if err != nil {
		return fmt.Errorf("%s: %w", *dataPath, err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"loss": res.Loss, "perplexity": res.Perplexity, "tokens": res.Tokens, "examples": examples})
	}
	what := *modelDir
	if *adapterDir != "" {
		what += " + " + *adapterDir
	}
	fmt.Fprintf(stdout, "%s on %s: loss %.4f, perplexity %.3f over %d target tokens in %d examples\n", what, *dataPath, res.Loss, res.Perplexity, res.Tokens, examples)
	return nil
}

// loadForInference loads a model and, when adapterDir is set, installs the
// adapter as the active one with dropout off.
func loadForInference(modelDir, adapterDir, series string) (model.CausalLM, error) {
	if adapterDir == "" {
		return model.Load(modelDir)
	}
	pm, a, err := loadAdapted(modelDir, adapterDir, series)
	if err != nil {
		return nil, err
	}
	a.SetTraining(false)
	return pm, nil
}

// baseModel returns the model under a PEFT wrapper (what generates through
// the adapter's slots), or m itself.
func baseModel(m model.CausalLM) model.CausalLM {
	if pm, ok := m.(*peft.Model); ok {
		return pm.CausalLM
	}
	return m
}

// evalBatches reads a JSONL data set with the model's tokenizer into
// batches in file order.
func evalBatches(m model.CausalLM, modelDir, path string, maxSeq, batchSize int) ([]data.Batch, int, error) {
	info := m.Info()
	tok, err := loadTokenizer(modelDir, info.Vocab)
	if err != nil {
		return nil, 0, err
	}
	if maxSeq == 0 {
		maxSeq = min(1024, info.MaxPositions)
	}
	if info.MaxPositions > 0 && maxSeq > info.MaxPositions {
		return nil, 0, fmt.Errorf("--max-seq-length %d exceeds the model's context of %d positions (%s)", maxSeq, info.MaxPositions, filepath.Join(modelDir, "config.json"))
	}
	opts := data.Options{MaxSeqLength: maxSeq, VocabSize: info.Vocab}
	if tok != nil {
		opts.Tokenizer, opts.Chat = tok, chatRenderer(tok)
	}
	examples, _, err := data.ReadJSONL(path, opts)
	if err != nil {
		return nil, 0, err
	}
	return inOrder(examples, batchSize, padID(tok)), len(examples), nil
}

// inOrder batches examples in file order, one pass (evaluation sets).
func inOrder(examples []data.Example, batchSize, padID int) []data.Batch {
	l := data.NewLoader(examples, batchSize, false, 0, padID)
	out := make([]data.Batch, l.StepsPerEpoch())
	for i := range out {
		out[i] = l.Next()
	}
	return out
}
