// Command orthotune fine-tunes language models with orthogonal (OFT) and
// low-rank (LoRA) adapters. This build runs Hugging Face causal LMs forward
// (with or without a PEFT adapter), computes adapter gradients, merges
// adapters into standalone model directories, and describes models and
// adapters; run `orthotune help` for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"

	"github.com/orthotune/orthotune/kernels"
	_ "github.com/orthotune/orthotune/model/gemma3"
	_ "github.com/orthotune/orthotune/model/gpt2"
	_ "github.com/orthotune/orthotune/model/llama"
	_ "github.com/orthotune/orthotune/model/qwen3"
	_ "github.com/orthotune/orthotune/peft/boft"
	_ "github.com/orthotune/orthotune/peft/hra"
	_ "github.com/orthotune/orthotune/peft/lora"
	_ "github.com/orthotune/orthotune/peft/oft"
)

// command is one subcommand: a one-line summary and a runner that gets its
// own arguments.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"forward":       {"run a model (optionally through a PEFT adapter) on token ids; write logits and loss", runForward},
	"grad":          {"gradient of the next-token loss for every tensor of a PEFT adapter", runGrad},
	"export":        {"write the model (adapter merged) as a GGUF file for llama.cpp and Ollama, with a Modelfile", runExport},
	"merge":         {"fold a PEFT adapter into its model; write a standalone Hugging Face model directory", runMerge},
	"inspect":       {"describe a PEFT adapter: method, targets, layers, orthogonality, hyperspherical energy", runInspect},
	"bench":         {"train a random model on random tokens; print tokens/s, step time, peak RSS as one JSON line", runBench},
	"demo":          {"the built-in end-to-end run: pretrain a small model (cached), fine-tune OFT on a task, compare", runDemo},
	"train":         {"fine-tune a model on a JSONL data set with OFT, LoRA or every weight; write a PEFT adapter", runTrain},
	"eval":          {"loss and perplexity of a model (optionally through a PEFT adapter) on a JSONL data set", runEval},
	"generate":      {"continue a prompt with a model (optionally through a PEFT adapter): greedy or sampled, streamed", runGenerate},
	"env":           {"CPU, threads and the GEMM backends this machine offers (system BLAS, SIMD, Go), which is in use", runEnv},
	"compare":       {"measure what each method learns and forgets at a matched budget: full, LoRA, OFT, COFT, BOFT, HRA", runCompare},
	"inspect-model": {"describe a Hugging Face model directory: architecture, sizes, dtypes, linear layers", runInspectModel},
}

// errUsage marks a command-line mistake (exit status 2, usage printed).
var errUsage = errors.New("usage")

// errHelp marks an explicit request for help (exit status 0).
var errHelp = flag.ErrHelp

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit status: 0 on
// success or help, 1 when the command failed on its input, 2 on a usage
// error, 130 when an interrupt (Ctrl-C, SIGTERM) stopped it.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if _, ok := commands[args[1]]; ok {
				return run([]string{args[1], "--help"}, stdout, stderr)
			}
		}
		usage(stdout)
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "orthotune: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	err := cmd.run(args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "orthotune %s: %v\n", name, err)
		return 130 // as a shell reports a process ended by SIGINT
	default:
		fmt.Fprintf(stderr, "orthotune %s: %v\n", name, err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "orthotune — orthogonal and low-rank fine-tuning for language models")
	fmt.Fprintln(w, "\nUsage: orthotune <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'orthotune <command> --help' for a command's flags.")
}

// newFlags returns a flag set that reports errors instead of exiting; usage
// is printed by parseFlags. Every command accepts --threads.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.Func("threads", "goroutines for parallel kernels (default: all cores)", func(s string) error {
		var n int
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1 {
			return fmt.Errorf("want a positive integer, got %q", s)
		}
		kernels.SetThreads(n)
		return nil
	})
	return fs
}

// parseFlags parses args, letting flags and positional arguments mix
// (Go's flag package alone stops at the first positional), and returns the
// positionals. It prints usage to stdout for --help (errHelp) and to stderr
// for a usage mistake, including a positional count outside
// [minArgs, maxArgs] (errUsage).
func parseFlags(fs *flag.FlagSet, synopsis string, args []string, minArgs, maxArgs int, stdout, stderr io.Writer) ([]string, error) {
	printUsage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: orthotune %s\n\nFlags:\n", synopsis)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	fail := func(format string, a ...any) ([]string, error) {
		fmt.Fprintf(stderr, "orthotune %s: %s\n\n", fs.Name(), fmt.Sprintf(format, a...))
		printUsage(stderr)
		return nil, errUsage
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printUsage(stdout)
				return nil, errHelp
			}
			return fail("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(positional) > maxArgs && maxArgs == 0:
		return fail("unexpected argument %q", positional[0])
	case len(positional) > maxArgs || len(positional) < minArgs:
		return fail("want %d argument(s), got %d", minArgs, len(positional))
	}
	return positional, nil
}

// requireFlags reports the first empty required string flag as a usage
// error.
func requireFlags(fs *flag.FlagSet, synopsis string, stderr io.Writer, names ...string) error {
	for _, n := range names {
		if fs.Lookup(n).Value.String() == "" {
			fmt.Fprintf(stderr, "orthotune %s: --%s is required\n\nUsage: orthotune %s\n", fs.Name(), n, synopsis)
			return errUsage
		}
	}
	return nil
}
