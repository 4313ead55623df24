package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/orthotune/orthotune/finetune"
)

const evalSynopsis = "eval --model DIR [--adapter DIR] --data FILE.jsonl [flags]\n\n" +
	"Mean next-token loss and perplexity of the model (through the adapter, if given) on a JSONL\n" +
	"data set in any of train's record formats (loss on completions only for prompt/completion\n" +
	"records), and how many target tokens were scored. For prompt/completion and messages data it also\n" +
	"counts the exact answers: records whose completion (every assistant turn) greedy decoding reproduces\n" +
	"token for token."

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval")
	job := finetune.EvalJob{}
	fs.StringVar(&job.Model, "model", "", "Hugging Face model directory")
	fs.StringVar(&job.Adapter, "adapter", "", "PEFT adapter directory (default: the model alone)")
	loadOptions := loadFlags(fs)
	fs.StringVar(&job.Data, "data", "", "evaluation data, JSONL")
	fs.IntVar(&job.MaxSeqLength, "max-seq-length", 0, "truncate sequences to this many tokens (default: min(1024, the model's context))")
	fs.IntVar(&job.BatchSize, "per-device-eval-batch-size", 8, "sequences per batch")
	fs.Var(templateVarsFlag{&job.ChatTemplateKwargs}, "chat-template-kwargs", "for \"messages\" records: a `JSON` object of further chat template variables, such as {\"enable_thinking\": false}")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	if _, err := parseFlags(fs, evalSynopsis, args, 0, 0, stdout, stderr); err != nil {
		return err
	}
	if err := requireFlags(fs, evalSynopsis, stderr, "model", "data"); err != nil {
		return err
	}
	if job.BatchSize < 1 {
		return usageError(fs, evalSynopsis, stderr, "--per-device-eval-batch-size %d: want ≥ 1", job.BatchSize)
	}
	var err error
	if job.LoadOptions, err = loadOptions(); err != nil {
		return err
	}
	res, err := finetune.Evaluate(job)
	if err != nil {
		return err
	}
	answers := finetune.AnswerFormat(res.Format)
	if *asJSON {
		out := map[string]any{"loss": res.Loss, "perplexity": res.Perplexity, "tokens": res.Tokens, "examples": res.Examples, "format": res.Format}
		if answers {
			out["exact_match"], out["exact_match_rate"] = res.ExactMatch, res.ExactMatchRate()
		}
		return json.NewEncoder(stdout).Encode(out)
	}
	what := job.Model
	if job.Adapter != "" {
		what += " + " + job.Adapter
	}
	fmt.Fprintf(stdout, "%s on %s: loss %.4f, perplexity %.3f over %d target tokens in %d examples\n", what, job.Data, res.Loss, res.Perplexity, res.Tokens, res.Examples)
	if answers {
		fmt.Fprintf(stdout, "exact answers (greedy decoding reproduces the completion): %d of %d (%.1f%%)\n", res.ExactMatch, res.Sequences, 100*res.ExactMatchRate())
	}
	return nil
}
