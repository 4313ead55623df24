package finetune

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/internal/rss"
	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
	"github.com/orthotune/orthotune/train"
)

// BenchSpec is a training benchmark: a randomly initialised model of the
// given shape trained on random tokens with AdamW.
type BenchSpec struct {
	Arch                                                string // "llama", "qwen3", "gemma3" or "gpt2"
	Layers, Hidden, Heads, KVHeads, Intermediate, Vocab int
	Seq, Batch                                          int // tokens per row, rows per step
	// HeadDim is the width of one attention head (llama, qwen3, gemma3); 0
	// means Hidden/Heads. A qwen3 model has Qwen3-0.6B's layout besides
	// (q/k norms, a head tied to the embedding), a gemma3 model Gemma 3
	// 270M's (window 512, every 6th layer global, tied head).
	HeadDim int
	// Adapter is the method's config (targets unset: every linear layer of
	// the blocks); nil trains every weight.
	Adapter               peft.Config
	Steps, Warmup         int // measured steps, unmeasured steps before them
	BaseDType             string
	GradientCheckpointing bool
	Replicas              int // see train.Trainer.Replicas
	Seed                  uint64
	// CPUProfile, if set, receives a CPU profile of the measured steps.
	CPUProfile io.Writer
}

// BenchResult is a benchmark's figures (the JSON line orthotune bench
// prints).
type BenchResult struct {
	Arch                 string  `json:"arch"`
	Method               string  `json:"method"`
	Layers               int     `json:"layers"`
	Hidden               int     `json:"hidden"`
	HeadDim              int     `json:"head_dim"`
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
	// ModelGFLOPPerStep is the step's model FLOPs (StepFLOPs), and
	// GFLOPPerS that over the median step's time.
	ModelGFLOPPerStep float64 `json:"model_gflop_per_step"`
	GFLOPPerS         float64 `json:"gflop_per_s"`
	// PeakGFLOPS is the machine's float32 FMA peak on Threads threads
	// (kernels.PeakGFLOPS), measured after each measured step, outside its
	// time, and the median taken (with a CPU profile, measured once after
	// the steps), and MFU the share of it the step achieves (GFLOPPerS /
	// PeakGFLOPS); both 0 where the peak cannot be measured.
	PeakGFLOPS float64 `json:"peak_gflops,omitempty"`
	MFU        float64 `json:"mfu,omitempty"`
}

// StepFLOPs counts a training step's model FLOPs on tokens rows·seq
// tokens, the convention of the MFU literature (PaLM's appendix B)
// extended to frozen weights:
//
//	per token: 2·P (forward) + 2·P (input gradients) + 2·P_trained (weight
//	gradients) + 12·L·H·d_h·T (attention scores and values, forward and
//	backward)
//
// where P counts the weights of every linear layer (output head included),
// P_trained those trained as a whole (full fine-tuning), L the blocks, H
// the query heads of width d_h and T the sequence length. An adapter's own
// arithmetic (rotations, low-rank products), norms, activations and the
// loss are left out, and so is gradient checkpointing's second forward:
// model FLOPs count what the step must compute, not what it recomputes.
func StepFLOPs(m model.CausalLM, full bool, layers, heads, headDim, seq, rows int) float64 {
	var p float64
	for _, s := range m.Linears() {
		p += float64(s.Base.In) * float64(s.Base.Out)
	}
	perToken := 4 * p
	if full {
		perToken += 2 * p
	}
	perToken += 12 * float64(layers) * float64(heads) * float64(headDim) * float64(seq)
	return perToken * float64(seq) * float64(rows)
}

// benchConfig is the config.json of a benchmark model.
func benchConfig(s BenchSpec) (*model.Config, error) {
	var cfg map[string]any
	switch s.Arch {
	case "llama":
		cfg = map[string]any{
			"model_type": "llama", "hidden_size": s.Hidden, "intermediate_size": s.Intermediate,
			"num_hidden_layers": s.Layers, "num_attention_heads": s.Heads, "num_key_value_heads": s.KVHeads,
			"vocab_size": s.Vocab, "max_position_embeddings": max(s.Seq, 128), "rms_norm_eps": 1e-6,
			"rope_theta": 10000.0, "tie_word_embeddings": false, "hidden_act": "silu", "head_dim": s.HeadDim,
		}
	case "qwen3":
		cfg = map[string]any{
			"model_type": "qwen3", "hidden_size": s.Hidden, "intermediate_size": s.Intermediate, "head_dim": s.HeadDim,
			"num_hidden_layers": s.Layers, "num_attention_heads": s.Heads, "num_key_value_heads": s.KVHeads,
			"vocab_size": s.Vocab, "max_position_embeddings": max(s.Seq, 128), "rms_norm_eps": 1e-6,
			"rope_theta": 1e6, "tie_word_embeddings": true, "hidden_act": "silu",
		}
	case "gpt2":
		if s.HeadDim != s.Hidden/s.Heads {
			return nil, fmt.Errorf("arch gpt2: head dim %d: GPT-2's heads are hidden/heads = %d wide", s.HeadDim, s.Hidden/s.Heads)
		}
		cfg = map[string]any{
			"model_type": "gpt2", "n_embd": s.Hidden, "n_head": s.Heads, "n_layer": s.Layers, "n_positions": max(s.Seq, 128),
			"vocab_size": s.Vocab, "n_inner": s.Intermediate, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
		}
	case "gemma3":
		// Gemma 3 270M's settings besides the shape: window 512, every 6th
		// layer global, query_pre_attn_scalar = head_dim, tied head.
		headDim := cmp.Or(s.HeadDim, s.Hidden/s.Heads)
		cfg = map[string]any{
			"model_type": "gemma3_text", "hidden_size": s.Hidden, "intermediate_size": s.Intermediate,
			"num_hidden_layers": s.Layers, "num_attention_heads": s.Heads, "num_key_value_heads": s.KVHeads,
			"head_dim": headDim, "query_pre_attn_scalar": headDim, "vocab_size": s.Vocab,
			"max_position_embeddings": max(s.Seq, 32768), "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
			"rope_local_base_freq": 10000.0, "sliding_window": 512, "sliding_window_pattern": 6,
			"hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": true, "pad_token_id": 0,
		}
	default:
		return nil, fmt.Errorf("arch %q: want llama, qwen3, gemma3 or gpt2", s.Arch)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return model.ParseConfig("bench config.json", raw)
}

// benchInit draws weights as model.NormalInit(0.02) does, except Gemma 3's
// norm weights, which are offsets from a gain of 1 and start at 0 as
// transformers initialises them.
func benchInit(arch string, rng *tensor.RNG) model.InitFunc {
	normal := model.NormalInit(0.02, rng)
	if arch != "gemma3" {
		return normal
	}
	return func(name string, shape []int) []float32 {
		if len(shape) == 1 {
			return tensor.New(shape...).Data
		}
		return normal(name, shape)
	}
}

// Bench builds the model (weights from N(0, 0.02²)), attaches the adapter,
// and times Warmup+Steps data-parallel training steps, reporting the
// measured ones: tokens per second, the median step, the resident-set
// high-water mark during training and the allocations per step.
func Bench(s BenchSpec) (*BenchResult, error) {
	switch {
	case s.Steps < 1 || s.Warmup < 0 || s.Seq < 2 || s.Batch < 1 || s.Layers < 1 || s.Vocab < 2 || s.Heads < 1 || s.HeadDim < 0:
		return nil, fmt.Errorf("bench: steps, seq, batch, layers, heads and vocab must be positive (seq ≥ 2), warmup and head dim ≥ 0")
	case s.HeadDim == 0 && s.Hidden%s.Heads != 0:
		return nil, fmt.Errorf("bench: hidden %d is not a multiple of heads %d", s.Hidden, s.Heads)
	}
	if s.HeadDim == 0 {
		s.HeadDim = s.Hidden / s.Heads
	}
	if s.KVHeads == 0 {
		s.KVHeads = s.Heads
	}
	cfg, err := benchConfig(s)
	if err != nil {
		return nil, err
	}
	m, err := model.NewInitialized(cfg, benchInit(s.Arch, tensor.NewRNG(s.Seed+1)))
	if err != nil {
		return nil, err
	}
	var target train.Target
	var run model.CausalLM = m
	method := FullMethod
	if s.Adapter == nil {
		target = train.FullTarget(m, nil) // never saved
	} else {
		if !s.Adapter.Base().TargetModules.IsSet {
			s.Adapter.Base().TargetModules = peft.Pattern(peft.AllLinear)
		}
		pm, a, err := addAdapter(m, s.Adapter, s.Seed)
		if err != nil {
			return nil, err
		}
		if meth, ok := peft.MethodOf(s.Adapter); ok {
			method = meth.Name
		}
		run, target = pm, train.AdapterTarget(a)
	}
	if err := holdBase(run, s.BaseDType, s.Adapter == nil); err != nil {
		return nil, err
	}
	if s.GradientCheckpointing {
		if err := model.SetGradientCheckpointing(run, true); err != nil {
			return nil, err
		}
	}
	target.SetTraining(true)
	replicas := train.DefaultReplicas(s.Replicas, s.GradientCheckpointing)
	par, err := train.NewParallel(run, replicas)
	if err != nil {
		if replicas > 1 {
			return nil, err
		}
		slog.Info("data-parallel steps off", "reason", err)
		par, _ = train.NewParallel(run, 1)
	}
	defer par.Close()
	params := target.Params()
	opt, err := train.NewAdamW(params, 0.9, 0.999, 1e-8, 0)
	if err != nil {
		return nil, err
	}
	trainable := 0
	for _, p := range params {
		trainable += p.Param.W.Len()
	}
	rng := tensor.NewRNG(s.Seed + 7)
	ids := make([][]int, s.Batch)
	for i := range ids {
		ids[i] = make([]int, s.Seq)
	}
	batch := data.Batch{InputIDs: ids, Labels: ids, Tokens: s.Batch * s.Seq}
	rss.ResetPeak()
	var memBefore, memAfter runtime.MemStats
	var peaks []float64 // kernels.PeakGFLOPS beside the measured steps
	var peakErr error
	samplePeak := func() {
		if p, err := kernels.PeakGFLOPS(kernels.Threads()); err == nil {
			peaks = append(peaks, p)
		} else {
			peakErr = err
		}
	}
	var times []float64
	var total time.Duration
	var loss float64
	profiling := false
	for step := 0; step < s.Warmup+s.Steps; step++ {
		for _, row := range ids {
			for t := range row {
				row[t] = rng.IntN(s.Vocab)
			}
		}
		if step == s.Warmup {
			runtime.ReadMemStats(&memBefore)
			if s.CPUProfile != nil {
				if err := pprof.StartCPUProfile(s.CPUProfile); err != nil {
					return nil, fmt.Errorf("bench: CPU profile: %w", err)
				}
				profiling = true
			}
		}
		start := time.Now()
		res, err := par.Step(opt, []data.Batch{batch}, 1e-4, 1)
		if err != nil {
			return nil, err
		}
		el := time.Since(start)
		loss = res.Loss
		if step >= s.Warmup {
			times = append(times, el.Seconds())
			total += el
			// The peak beside each step, at the clock the cores run at
			// then (the vector clock of a shared machine moves by a
			// tenth from one minute to the next); with a profile, once
			// after the steps, so that the profile holds the steps alone.
			if !profiling {
				samplePeak()
			}
		}
	}
	runtime.ReadMemStats(&memAfter)
	if profiling {
		pprof.StopCPUProfile()
	}
	tokens := float64(s.Batch * s.Seq)
	slices.Sort(times)
	median := times[len(times)/2]
	if len(times)%2 == 0 {
		median = (times[len(times)/2-1] + times[len(times)/2]) / 2
	}
	flops := StepFLOPs(m, s.Adapter == nil, s.Layers, s.Heads, s.HeadDim, s.Seq, s.Batch)
	if len(peaks) == 0 && peakErr == nil {
		samplePeak()
	}
	var peak, mfu float64
	if len(peaks) > 0 {
		slices.Sort(peaks)
		peak = peaks[len(peaks)/2]
		mfu = flops / 1e9 / median / peak
	} else {
		slog.Info("MFU not reported", "reason", peakErr)
	}
	return &BenchResult{PeakGFLOPS: peak, MFU: mfu, Arch: s.Arch, Method: method, ModelGFLOPPerStep: flops / 1e9, GFLOPPerS: flops / 1e9 / median, Layers: s.Layers, Hidden: s.Hidden, HeadDim: s.HeadDim, Seq: s.Seq, Batch: s.Batch,
		Threads: kernels.Threads(), Replicas: par.Replicas(), Steps: s.Steps, TokensPerS: tokens * float64(s.Steps) / total.Seconds(),
		TokensPerSMedianStep: tokens / median, StepMsMedian: median * 1000, PeakRSSMiB: rss.PeakMiB(),
		TrainableParams: trainable, TotalParams: m.Info().Parameters, Gemm: kernels.GemmKernel(), FinalLoss: loss,
		Checkpointing: s.GradientCheckpointing, BaseDType: s.BaseDType,
		AllocsPerStep:   float64(memAfter.Mallocs-memBefore.Mallocs) / float64(s.Steps),
		AllocMiBPerStep: float64(memAfter.TotalAlloc-memBefore.TotalAlloc) / float64(s.Steps) / (1 << 20)}, nil
}
