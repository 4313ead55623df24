package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/internal/demo"
)

const demoSynopsis = "demo [--output-dir DIR] [--cache-dir DIR] [--rebuild]\n\n" +
	"The built-in end-to-end run, on nothing but this binary. The first time, it pretrains a small\n" +
	"Llama-architecture base model (about 0.4 M parameters, a byte-level BPE tokenizer trained on the\n" +
	"same text) on a corpus that code generates, and caches it in the user cache directory; later runs\n" +
	"reuse it (--rebuild makes a new one). Then it fine-tunes an OFT adapter, and beside it LoRA with as\n" +
	"many parameters, on a second built-in task —\n" +
	"questions about facts the corpus never states, evaluated in a phrasing training never shows —\n" +
	"and prints the evaluation loss before and after, how much the base text's loss moved (forgetting),\n" +
	"and sample answers before and after. Everything it writes is an ordinary orthotune run: the base\n" +
	"model is a Hugging Face directory, the adapter a PEFT directory, both usable with every command."

// demoSteps are the pretraining and fine-tuning lengths (optimizer steps).
var demoSteps = struct{ pretrain, finetune int }{pretrain: 200, finetune: 240}

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo")
	opt := demo.Options{Log: stderr, PretrainSteps: demoSteps.pretrain, FinetuneSteps: demoSteps.finetune}
	fs.StringVar(&opt.OutputDir, "output-dir", "", "where to write the task data and the adapter (default: orthotune-demo in the system's temporary directory, replaced at each run)")
	fs.StringVar(&opt.CacheDir, "cache-dir", "", "where the pretrained base model is cached (default: the user cache directory)/orthotune")
	fs.BoolVar(&opt.Rebuild, "rebuild", false, "pretrain the base model again even if a cached one exists")
	if _, err := parseFlags(fs, demoSynopsis, args, 0, 0, stdout, stderr); err != nil {
		return err
	}
	if opt.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("no user cache directory (%w); pass --cache-dir", err)
		}
		opt.CacheDir = filepath.Join(dir, "orthotune")
	}
	var reporters []*trainReporter
	opt.Reporter = func() finetune.Reporter {
		r := newTrainReporter(io.Discard, stderr) // the demo prints its own summary
		reporters = append(reporters, r)
		return r
	}
	ctx, stop := interruptible()
	defer stop()
	r, err := demo.Run(ctx, opt)
	for _, rep := range reporters {
		rep.close()
	}
	if err != nil {
		return err
	}
	printDemoReport(stdout, r)
	return nil
}

// selfCommand is how the user can run this program again: "orthotune",
// or under `go run` (a binary in the go command's build cache) the go run
// command line.
func selfCommand() string {
	exe, err := os.Executable()
	if err == nil && strings.Contains(filepath.ToSlash(exe), "/go-build") {
		return "go run ./cmd/orthotune"
	}
	return "orthotune"
}

func printDemoReport(w io.Writer, r *demo.Report) {
	task, text := r.Task, r.Text
	fmt.Fprintf(w, "\northotune demo — OFT (block 32) and LoRA (r %d) on every linear layer, %d and %d trainable parameters (%.2g%% of the model), %d steps each\n\n",
		r.LoRARank, r.Trainable, r.LoRATrainable, 100*float64(r.Trainable)/float64(r.Parameters), r.Steps)
	fmt.Fprintf(w, "  %-44s %10s %10s %10s\n", "", "base", "with OFT", "with LoRA")
	fmt.Fprintf(w, "  %-44s %10.3f %10.3f %10.3f\n", "task loss (held-out lead-in), nats/token", task[0].Loss, task[1].Loss, task[2].Loss)
	fmt.Fprintf(w, "  %-44s %10.2f %10.2f %10.2f\n", "task perplexity", task[0].Perplexity, task[1].Perplexity, task[2].Perplexity)
	fmt.Fprintf(w, "  %-44s %10.3f %10.3f %10.3f\n", "base-text loss (forgetting), nats/token", text[0].Loss, text[1].Loss, text[2].Loss)
	fmt.Fprintf(w, "  %-44s %10s %+9.0f%% %+9.0f%%   (what each fine-tune cost the base text)\n", "  change", "",
		100*(text[1].Loss-text[0].Loss)/text[0].Loss, 100*(text[2].Loss-text[0].Loss)/text[0].Loss)
	fmt.Fprintln(w, "\n  sample answers (greedy), after the held-out lead-in:")
	for _, a := range r.Answers[:min(4, len(r.Answers))] {
		fmt.Fprintf(w, "  %-22s base: %-20q OFT: %-12q LoRA: %-12q (true: %s)\n", a.Prompt, a.Base, a.Tuned, a.LoRA, a.Truth)
	}
	fmt.Fprintf(w, "\n  correct colours over all %d facts: base %d, with OFT %d, with LoRA %d\n", len(r.Answers), r.Right[0], r.Right[1], r.Right[2])
	fmt.Fprintf(w, "\n  One run each at one learning rate: for learning against forgetting over seeds and learning\n  rates, every method at a matched budget, run: %s compare\n", selfCommand())
	fmt.Fprintf(w, "\n  adapters (PEFT format): %s, %s\n  try:  %s generate --model %s --adapter %s --prompt %q\n",
		r.AdapterDir, r.LoRADir, selfCommand(), r.BaseDir, r.AdapterDir, demo.Prompt(len(demo.Prefixes)-1, "kite"))
	fmt.Fprintf(w, "  done in %s\n", r.Elapsed.Round(time.Second))
}
