package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/peft"
)

const benchSynopsis = "bench [flags]\n\n" +
	"Trains a randomly initialised model on random tokens (AdamW, float32) and prints one JSON line:\n" +
	"tokens_per_s (over the measured steps), tokens_per_s_median_step, step_ms_median, peak_rss_mib\n" +
	"(resident set high-water mark during training), trainable_params, gemm (the kernel used),\n" +
	"model_gflop_per_step (forward 2P + input gradients 2P + weight gradients 2P when every weight trains\n" +
	"+ attention 12·L·H·d_h·T, per token; P = the linear layers' weights), gflop_per_s over the median step,\n" +
	"peak_gflops (the float32 FMA peak on the same threads, as env --peak, measured after each measured step and\n" +
	"the median taken; with --cpuprofile once, after the steps) and mfu\n" +
	"(gflop_per_s / peak_gflops).\n" +
	"The first --warmup steps are not measured."

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench")
	s := finetune.BenchSpec{}
	fs.StringVar(&s.Arch, "arch", "llama", "llama, qwen3 (q/k norms, tied head as Qwen3-0.6B), gemma3 (Gemma 3 270M's layout) or gpt2")
	fs.IntVar(&s.Layers, "layers", 4, "decoder blocks")
	fs.IntVar(&s.Hidden, "hidden", 256, "hidden size")
	fs.IntVar(&s.Heads, "heads", 4, "attention heads")
	fs.IntVar(&s.KVHeads, "kv-heads", 0, "key/value heads (llama, qwen3, gemma3; default: --heads)")
	fs.IntVar(&s.HeadDim, "head-dim", 0, "width of one attention head (llama, qwen3, gemma3; default: --hidden / --heads)")
	fs.IntVar(&s.Intermediate, "intermediate", 704, "MLP width")
	fs.IntVar(&s.Vocab, "vocab", 4096, "vocabulary size")
	fs.IntVar(&s.Seq, "seq", 128, "sequence length")
	fs.IntVar(&s.Batch, "batch", 8, "sequences per step")
	method := fs.String("method", "oft", strings.Join(peft.MethodNames(), ", ")+" or "+finetune.FullMethod)
	targets := fs.String("targets", "", "adapted modules (default: every linear layer in the blocks)")
	methods := bindMethods(fs, true)
	fs.IntVar(&s.Steps, "steps", 10, "measured steps")
	fs.IntVar(&s.Warmup, "warmup", 2, "unmeasured steps first")
	fs.StringVar(&s.BaseDType, "base-dtype", "f32", "hold frozen base weights as f32 or bf16")
	fs.BoolVar(&s.GradientCheckpointing, "gradient-checkpointing", false, "recompute each block's activations in the backward pass")
	fs.IntVar(&s.Replicas, "replicas", 0, "model replicas each step's rows are split among, run concurrently (0: one per thread when the model allows and --gradient-checkpointing is off; 1: operation-level threading only)")
	memProfile := fs.String("memprofile", "", "write an allocation profile of the run to this file (go tool pprof -sample_index=alloc_space)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured steps to this file (go tool pprof)")
	s.Seed = 1
	fs.Var(uint64Flag{&s.Seed}, "seed", "seed for weights, adapter and tokens")
	if _, err := parseFlags(fs, benchSynopsis, args, 0, 0, stdout, stderr); err != nil {
		return err
	}
	switch {
	case s.Steps < 1 || s.Warmup < 0 || s.Seq < 2 || s.Batch < 1 || s.Layers < 1 || s.Vocab < 2 || s.Heads < 1 || s.HeadDim < 0:
		return usageError(fs, benchSynopsis, stderr, "--steps, --seq, --batch, --layers, --heads and --vocab must be positive (--seq ≥ 2), --warmup and --head-dim ≥ 0")
	case s.HeadDim == 0 && s.Hidden%s.Heads != 0:
		return usageError(fs, benchSynopsis, stderr, "--hidden %d is not a multiple of --heads %d", s.Hidden, s.Heads)
	}
	if *method != finetune.FullMethod {
		cfg, err := methods.config(*method)
		if err != nil {
			return err
		}
		cfg.Base().TargetModules = peft.ParseTargets(*targets)
		s.Adapter = cfg
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		s.CPUProfile = f
	}
	res, err := finetune.Bench(s)
	if err != nil {
		return err
	}
	if *memProfile != "" {
		if err := writeHeapProfile(*memProfile); err != nil {
			return err
		}
	}
	return json.NewEncoder(stdout).Encode(res)
}

// writeHeapProfile writes the allocation profile to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	runtime.GC() // the profile shows allocations as of the last collection
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("--memprofile: %w", err)
	}
	return f.Close()
}
