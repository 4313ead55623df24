package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
	"github.com/orthotune/orthotune/train"
)

const benchSynopsis = "bench [flags]\n\n" +
	"Trains a randomly initialised model on random tokens (AdamW, float32) and prints one JSON line:\n" +
	"tokens_per_s (over the measured steps), tokens_per_s_median_step, step_ms_median, peak_rss_mib\n" +
	"(resident set high-water mark during training), trainable_params and gemm (the kernel used).\n" +
	"The first --warmup steps are not measured."

// benchResult is the JSON line bench prints.
type benchResult struct {
	Arch                 string  `json:"arch"`
	Method               string  `json:"method"`
	Layers               int     `json:"layers"`
	Hidden               int     `json:"hidden"`
	Seq                  int     `json:"seq"`
	Batch                int     `json:"batch"`
	Threads              int     `json:"threads"`
	Replicas             int     `json:"replicas"`
	Steps                int     `json:"steps"`
	TokensPerS           float64 `json:"tokens_per_s"`
	TokensPerSMedianStep float64 `json:"tokens_per_s_median_step"`
	StepMsMedian         float64 `json:"step_ms_median"`
	PeakRSSMiB           float64 `json:"peak_rss_mib"`
	TrainableParams      int     `json:"trainable_params"`
	TotalParams          int     `json:"total_params"`
	Gemm                 string  `json:"gemm"`
	Checkpointing        bool    `json:"gradient_checkpointing,omitempty"`
	BaseDType            string  `json:"base_dtype"`
	AllocsPerStep        float64 `json:"allocs_per_step"`
	AllocMiBPerStep      float64 `json:"alloc_mib_per_step"`
	FinalLoss            float64 `json:"final_loss"`
}

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench")
	arch := fs.String("arch", "llama", "llama or gpt2")
	layers := fs.Int("layers", 4, "decoder blocks")
	hidden := fs.Int("hidden", 256, "hidden size")
	heads := fs.Int("heads", 4, "attention heads")
	kvHeads := fs.Int("kv-heads", 0, "key/value heads (llama; default: --heads)")
	inter := fs.Int("intermediate", 704, "MLP width")
	vocab := fs.Int("vocab", 4096, "vocabulary size")
	seq := fs.Int("seq", 128, "sequence length")
	batch := fs.Int("batch", 8, "sequences per step")
	method := fs.String("method", "oft", "oft, lora or full")
	targets := fs.String("targets", "", "adapted modules (default: every linear layer in the blocks)")
	blockSize := fs.Int("oft-block-size", 32, "OFT block size")
	neumann := fs.Int("neumann-terms", 5, "Cayley–Neumann terms")
	exact := fs.Bool("exact-cayley", false, "exact Cayley transform instead of the series")
	loraR := fs.Int("lora-r", 8, "LoRA rank")
	loraAlpha := fs.Float64("lora-alpha", 16, "LoRA alpha")
	steps := fs.Int("steps", 10, "measured steps")
	warmup := fs.Int("warmup", 2, "unmeasured steps first")
	baseDType := fs.String("base-dtype", "f32", "hold frozen base weights as f32 or bf16")
	checkpointing := fs.Bool("gradient-checkpointing", false, "recompute each block's activations in the backward pass")
	replicas := fs.Int("replicas", 0, "model replicas each step's rows are split among, run concurrently (0: one per thread when the model allows and --gradient-checkpointing is off; 1: operation-level threading only)")
	memProfile := fs.String("memprofile", "", "write an allocation profile of the run to this file (go tool pprof -sample_index=alloc_space)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured steps to this file (go tool pprof)")
	var seed uint64 = 1
	fs.Var(uint64Flag{&seed}, "seed", "seed for weights, adapter and tokens")
	if _, err := parseFlags(fs, benchSynopsis, args, 0, 0, stdout, stderr); err != nil {
		return err
	}
	switch {
	case *steps < 1 || *warmup < 0 || *seq < 2 || *batch < 1 || *layers < 1 || *vocab < 2:
		return usageError(fs, benchSynopsis, stderr, "--steps, --seq, --batch, --layers and --vocab must be positive (--seq ≥ 2), --warmup ≥ 0")
	case *hidden%*heads != 0:
		return usageError(fs, benchSynopsis, stderr, "--hidden %d is not a multiple of --heads %d", *hidden, *heads)
	}
	if *kvHeads == 0 {
		*kvHeads = *heads
	}
	dir, err := os.MkdirTemp("", "orthotune-bench-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if _, err := testmodel.Write(dir, testmodel.Spec{ModelType: *arch, Hidden: *hidden, Heads: *heads, KVHeads: *kvHeads,
		Intermediate: *inter, Layers: *layers, Vocab: *vocab, Positions: max(*seq, 128), Seed: seed, Std: 0.02}); err != nil {
		return err
	}
	m, err := model.Load(dir)
	if err != nil {
		return err
	}
	var target train.Target
	var run model.CausalLM = m
	if *method == "full" {
		target = train.FullTarget(m, nil) // never saved
	} else {
		j := &trainJob{Method: *method, TargetModules: *targets, OFTBlockSize: *blockSize, NeumannTerms: *neumann,
			ExactCayley: *exact, LoraR: *loraR, LoraAlpha: *loraAlpha, Eps: 6e-5}
		if j.TargetModules == "" {
			j.TargetModules = "all-linear"
		}
		cfg, err := j.adapterConfig(*arch)
		if err != nil {
			return err
		}
		pm := peft.Wrap(m)
		a, err := pm.Add(adapterName, cfg, tensor.NewRNG(seed))
		if err != nil {
			return err
		}
		run, target = pm, train.AdapterTarget(a)
	}
	if err := holdBase(run, *baseDType, *method); err != nil {
		return err
	}
	if *checkpointing {
		if err := model.SetGradientCheckpointing(run, true); err != nil {
			return err
		}
	}
	target.SetTraining(true)
	*replicas = train.DefaultReplicas(*replicas, *checkpointing)
	par, err := train.NewParallel(run, *replicas)
	if err != nil {
		if *replicas > 1 {
			return err
		}
		slog.Info("data-parallel steps off", "reason", err)
		par, _ = train.NewParallel(run, 1)
	}
	defer par.Close()
	params := target.Params()
	opt, err := train.NewAdamW(params, 0.9, 0.999, 1e-8, 0)
	if err != nil {
		return err
	}
	trainable := 0
	for _, p := range params {
		trainable += p.Param.W.Len()
	}
	rng := tensor.NewRNG(seed + 7)
	ids := make([][]int, *batch)
	for i := range ids {
		ids[i] = make([]int, *seq)
	}
	batchOf := data.Batch{InputIDs: ids, Labels: ids, Tokens: *batch * *seq}
	resetPeakRSS()
	var stopProfile func()
	var memBefore, memAfter runtime.MemStats
	var times []float64
	var total time.Duration
	var loss float64
	for s := 0; s < *warmup+*steps; s++ {
		for _, row := range ids {
			for t := range row {
				row[t] = rng.IntN(*vocab)
			}
		}
		if s == *warmup {
			runtime.ReadMemStats(&memBefore)
		}
		if s == *warmup && *cpuProfile != "" {
			if stopProfile, err = startCPUProfile(*cpuProfile); err != nil {
				return err
			}
		}
		start := time.Now()
		res, err := par.Step(opt, []data.Batch{batchOf}, 1e-4, 1)
		if err != nil {
			return err
		}
		el := time.Since(start)
		loss = res.Loss
		if s >= *warmup {
			times = append(times, el.Seconds())
			total += el
		}
	}
	runtime.ReadMemStats(&memAfter)
	if stopProfile != nil {
		stopProfile()
	}
	if *memProfile != "" {
		if err := writeHeapProfile(*memProfile); err != nil {
			return err
		}
	}
	tokens := float64(*batch * *seq)
	slices.Sort(times)
	median := times[len(times)/2]
	if len(times)%2 == 0 {
		median = (times[len(times)/2-1] + times[len(times)/2]) / 2
	}
	res := benchResult{Arch: *arch, Method: *method, Layers: *layers, Hidden: *hidden, Seq: *seq, Batch: *batch,
		Threads: kernels.Threads(), Replicas: par.Replicas(), Steps: *steps, TokensPerS: tokens * float64(*steps) / total.Seconds(),
		TokensPerSMedianStep: tokens / median, StepMsMedian: median * 1000, PeakRSSMiB: peakRSSMiB(),
		TrainableParams: trainable, TotalParams: m.Info().Parameters, Gemm: kernels.GemmKernel(), FinalLoss: loss,
		Checkpointing: *checkpointing, BaseDType: *baseDType,
		AllocsPerStep:   float64(memAfter.Mallocs-memBefore.Mallocs) / float64(*steps),
		AllocMiBPerStep: float64(memAfter.TotalAlloc-memBefore.TotalAlloc) / float64(*steps) / (1 << 20)}
	return json.NewEncoder(stdout).Encode(res)
}

// startCPUProfile starts writing a CPU profile to path and returns the
// function that stops it and closes the file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
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
