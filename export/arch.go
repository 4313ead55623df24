package export

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/orthotune/orthotune/gguf"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/model/gemma3"
	"github.com/orthotune/orthotune/model/gpt2"
	"github.com/orthotune/orthotune/model/llama"
	"github.com/orthotune/orthotune/model/qwen3"
	"github.com/orthotune/orthotune/nn"
)

// archSpec is how one config.json model_type maps onto a llama.cpp
// architecture.
type archSpec struct {
	name      string  // general.architecture
	permuteQK bool    // llama.cpp's Llama graph uses interleaved rotary pairs
	normShift float32 // added to RMSNorm weights (Gemma's 1 + w)
	gpt2      bool
	// noBias maps bias tensors (without "blk.N.") llama.cpp's graph for the
	// architecture does not load to the config.json field that adds them.
	noBias map[string]string
}

var architectures = map[string]archSpec{
	"llama":       {name: "llama", permuteQK: true},
	"mistral":     {name: "llama", permuteQK: true},
	"qwen2":       {name: "qwen2"},
	"qwen3":       {name: "qwen3", noBias: attentionBiases},
	"gemma3_text": {name: "gemma3", normShift: 1, noBias: attentionBiases},
	"gpt2":        {name: "gpt2", gpt2: true},
}

var attentionBiases = map[string]string{"attn_q.bias": "attention_bias", "attn_k.bias": "attention_bias", "attn_v.bias": "attention_bias", "attn_output.bias": "attention_bias"}

// blockPart strips "blk.N." from a tensor name.
func blockPart(gname string) string {
	if rest, ok := strings.CutPrefix(gname, "blk."); ok {
		if _, after, ok := strings.Cut(rest, "."); ok {
			return after
		}
	}
	return gname
}

func archNames() []string {
	var names []string
	for k := range architectures {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// File types of general.file_type (llama.cpp's llama_ftype).
var fileTypes = map[gguf.TensorType]uint32{gguf.F32: 0, gguf.F16: 1, gguf.Q8_0: 7, gguf.BF16: 32}

// plannedTensor is one tensor of the file and how to produce its data.
type plannedTensor struct {
	name string
	typ  gguf.TensorType
	dims []int // ggml order
	data func() []float32
}

// plan is a whole file: metadata then tensors.
type plan struct {
	kvs     []gguf.KV
	tensors []plannedTensor
}

func (p *plan) kv(key string, v any) { p.kvs = append(p.kvs, gguf.KV{Key: key, Value: v}) }

// write streams the file to w.
func (p *plan) write(w io.Writer) error {
	gw := gguf.NewWriter(w)
	for _, kv := range p.kvs {
		if err := gw.AddKV(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	for _, t := range p.tensors {
		if err := gw.AddTensor(t.name, t.typ, t.dims...); err != nil {
			return err
		}
	}
	if err := gw.WriteHeader(); err != nil {
		return err
	}
	for _, t := range p.tensors {
		if err := gw.WriteTensor(t.data()); err != nil {
			return err
		}
	}
	return gw.Close()
}

// newPlan lays out the file for m, loaded from dir with config cfg.
func newPlan(arch archSpec, cfg *model.Config, m model.CausalLM, v *vocab, dir, name string, typ gguf.TensorType) (*plan, error) {
	info := m.Info()
	p := &plan{}
	a := arch.name
	p.kv("general.architecture", a)
	p.kv("general.type", "model")
	p.kv("general.name", name)
	p.kv("general.file_type", fileTypes[typ])
	p.kv("general.quantization_version", uint32(2))

	var ropeFreqs []float32 // Llama 3 rotary scaling factors, as the rope_freqs tensor
	var headDim, heads int
	switch {
	case arch.gpt2:
		gc, err := gpt2.ParseConfig(cfg)
		if err != nil {
			return nil, err
		}
		for _, f := range []struct {
			field     string
			got, want bool
		}{{"scale_attn_by_inverse_layer_idx", gc.ScaleByInverseLayerIdx, false}, {"scale_attn_weights", gc.ScaleAttnWeights, true}} {
			if f.got != f.want {
				return nil, fmt.Errorf("export: %s: config.json field %q = %v: llama.cpp's gpt2 graph has no such option", dir, f.field, f.got)
			}
		}
		if gc.Activation != nn.GELUTanh {
			slog.Warn("llama.cpp's gpt2 uses the tanh approximation of GELU; this model's activation_function differs", "dir", dir)
		}
		p.kv(a+".context_length", uint32(gc.Positions))
		p.kv(a+".embedding_length", uint32(gc.Hidden))
		p.kv(a+".feed_forward_length", uint32(gc.Inner))
		p.kv(a+".block_count", uint32(gc.Layers))
		p.kv(a+".attention.head_count", uint32(gc.Heads))
		p.kv(a+".attention.layer_norm_epsilon", float32(gc.LayerNormEps))
		heads, headDim = gc.Heads, gc.Hidden/gc.Heads
	case arch.name == "gemma3":
		gc, err := gemma3.ParseConfig(cfg)
		if err != nil {
			return nil, err
		}
		local := gc.LocalRope.Theta
		p.kv(a+".context_length", uint32(gc.MaxPositions))
		p.kv(a+".embedding_length", uint32(gc.Hidden))
		p.kv(a+".block_count", uint32(gc.Layers))
		p.kv(a+".feed_forward_length", uint32(gc.Intermediate))
		p.kv(a+".attention.head_count", uint32(gc.Heads))
		p.kv(a+".attention.head_count_kv", uint32(gc.KVHeads))
		p.kv(a+".attention.key_length", uint32(gc.HeadDim))
		p.kv(a+".attention.value_length", uint32(gc.HeadDim))
		p.kv(a+".attention.layer_norm_rms_epsilon", float32(gc.RMSNormEps))
		p.kv(a+".rope.freq_base", float32(gc.GlobalRope.Theta))
		p.kv(a+".rope.freq_base_swa", float32(local))
		p.kv(a+".attention.sliding_window", uint32(gc.SlidingWindow))
		pattern := make([]bool, gc.Layers)
		standard := true // llama.cpp's built-in pattern: every sixth layer global
		for i := range pattern {
			pattern[i] = gc.Sliding(i)
			standard = standard && pattern[i] == ((i+1)%6 != 0)
		}
		p.kv(a+".attention.sliding_window_pattern", pattern)
		if gc.FinalSoftcap > 0 {
			p.kv(a+".final_logit_softcapping", float32(gc.FinalSoftcap))
		}
		if err := ropeScalingKV(p, a, gc.GlobalRope.Scaling, dir, nil, nil); err != nil {
			return nil, err
		}
		// llama.cpp's gemma3 graph does not read these from the file: it
		// makes every sixth layer global, the sliding ones with RoPE base
		// 10000, and scales queries by 1/√head_dim. A model that differs
		// would run as another model there (measured: logits off by a
		// third of their scale), so it is refused rather than exported.
		scale := 1 / math.Sqrt(float64(gc.HeadDim))
		var differs []string
		if !standard {
			differs = append(differs, fmt.Sprintf("layer_types / sliding_window_pattern (sliding layers %v; llama.cpp: every sixth layer global)", pattern))
		}
		if local != 10_000 {
			differs = append(differs, fmt.Sprintf("rope_local_base_freq %g (llama.cpp: 10000)", local))
		}
		if math.Abs(gc.AttnScale-scale) > 1e-6*scale {
			differs = append(differs, fmt.Sprintf("query_pre_attn_scalar %.6g (llama.cpp: head_dim %d)", 1/(gc.AttnScale*gc.AttnScale), gc.HeadDim))
		}
		if len(differs) > 0 {
			return nil, fmt.Errorf("%s: %s differs from what llama.cpp's gemma3 graph computes, which would run another model: %s",
				dir, filepath.Join(dir, "config.json"), strings.Join(differs, "; "))
		}
		heads, headDim = gc.Heads, gc.HeadDim
	default:
		var lc *llama.Config
		var err error
		if info.ModelType == "qwen3" {
			lc, err = qwen3.ParseConfig(cfg)
		} else {
			lc, err = llama.ParseConfig(cfg)
		}
		if err != nil {
			return nil, err
		}
		p.kv(a+".context_length", uint32(lc.MaxPositions))
		p.kv(a+".embedding_length", uint32(lc.Hidden))
		p.kv(a+".block_count", uint32(lc.Layers))
		p.kv(a+".feed_forward_length", uint32(lc.Intermediate))
		p.kv(a+".attention.head_count", uint32(lc.Heads))
		p.kv(a+".attention.head_count_kv", uint32(lc.KVHeads))
		p.kv(a+".rope.freq_base", float32(lc.RopeTheta))
		p.kv(a+".rope.dimension_count", uint32(lc.HeadDim))
		p.kv(a+".attention.layer_norm_rms_epsilon", float32(lc.RMSNormEps))
		if lc.HeadDim*lc.Heads != lc.Hidden || cfg.Has("head_dim") {
			p.kv(a+".attention.key_length", uint32(lc.HeadDim))
			p.kv(a+".attention.value_length", uint32(lc.HeadDim))
		}
		if w := slidingWindow(lc.SlidingWindow); w > 0 {
			p.kv(a+".attention.sliding_window", uint32(w))
			slog.Warn("llama.cpp's "+a+" graph attends over the whole context; this model's sliding window is written to the metadata but not applied there", "dir", dir, "sliding_window", w)
		}
		if err := ropeScalingKV(p, a, lc.RopeScaling, dir, lc, &ropeFreqs); err != nil {
			return nil, err
		}
		heads, headDim = lc.Heads, lc.HeadDim
	}
	p.kv(a+".vocab_size", uint32(info.Vocab))
	if err := v.metadata(p, info.Vocab, cfg, dir); err != nil {
		return nil, err
	}

	// Tensors, in the model's parameter order.
	for _, prm := range m.Params() {
		gname, err := tensorName(arch, prm.Name)
		if err != nil {
			return nil, fmt.Errorf("export: %s: %w", dir, err)
		}
		if field, ok := arch.noBias[blockPart(gname)]; ok {
			return nil, fmt.Errorf("export: %s: config.json field %q: llama.cpp's %s graph has no %s tensor (the model has %s)", dir, field, arch.name, blockPart(gname), prm.Name)
		}
		t, err := planTensor(arch, gname, prm, info, heads, headDim, typ)
		if err != nil {
			return nil, fmt.Errorf("export: %s: tensor %s: %w", dir, prm.Name, err)
		}
		p.tensors = append(p.tensors, t)
	}
	if ropeFreqs != nil {
		p.tensors = append(p.tensors, plannedTensor{name: "rope_freqs.weight", typ: gguf.F32, dims: []int{len(ropeFreqs)}, data: func() []float32 { return ropeFreqs }})
	}
	return p, nil
}

// slidingWindow returns the one window the layers that slide use (0 when
// none does).
func slidingWindow(perLayer []int) int {
	w := 0
	for _, x := range perLayer {
		w = max(w, x)
	}
	return w
}

// ropeScalingKV writes the rope scaling the model's config reader applied
// (s): "linear" as rope.scaling.type and factor; for "llama3" (lc set) the
// per-frequency factors llama.cpp reads from the rope_freqs tensor.
func ropeScalingKV(p *plan, a string, s model.RopeScaling, dir string, lc *llama.Config, freqs *[]float32) error {
	switch s.Type {
	case "", "default":
		return nil
	case "linear":
		p.kv(a+".rope.scaling.type", "linear")
		p.kv(a+".rope.scaling.factor", float32(s.Factor))
		return nil
	case "llama3":
		if lc != nil {
			theta := lc.RopeTheta
			out := make([]float32, len(lc.InvFreq))
			for i, f := range lc.InvFreq {
				base := math.Pow(theta, -float64(2*i)/float64(lc.HeadDim))
				out[i] = float32(base / f)
			}
			*freqs = out
			return nil
		}
	}
	return fmt.Errorf("export: %s: config.json rope scaling %q has no llama.cpp mapping in this exporter", dir, s.Type)
}

// blockSuffixes maps a decoder block's parameter (without "model.layers.N."
// or "h.N.") to llama.cpp's name (without "blk.N.").
var blockSuffixes = map[string]string{
	"input_layernorm":          "attn_norm",
	"post_attention_layernorm": "ffn_norm",
	"self_attn.q_proj":         "attn_q",
	"self_attn.k_proj":         "attn_k",
	"self_attn.v_proj":         "attn_v",
	"self_attn.o_proj":         "attn_output",
	"self_attn.q_norm":         "attn_q_norm",
	"self_attn.k_norm":         "attn_k_norm",
	"mlp.gate_proj":            "ffn_gate",
	"mlp.up_proj":              "ffn_up",
	"mlp.down_proj":            "ffn_down",
}

// gemma3Suffixes are Gemma 3's four norms around attention and MLP.
var gemma3Suffixes = map[string]string{
	"post_attention_layernorm":   "post_attention_norm",
	"pre_feedforward_layernorm":  "ffn_norm",
	"post_feedforward_layernorm": "post_ffw_norm",
}

var gpt2Suffixes = map[string]string{
	"ln_1":        "attn_norm",
	"attn.c_attn": "attn_qkv",
	"attn.c_proj": "attn_output",
	"ln_2":        "ffn_norm",
	"mlp.c_fc":    "ffn_up",
	"mlp.c_proj":  "ffn_down",
}

// tensorName maps a checkpoint parameter name to llama.cpp's.
func tensorName(arch archSpec, name string) (string, error) {
	base, kind, ok := cutLast(name)
	if !ok || (kind != "weight" && kind != "bias") {
		return "", fmt.Errorf("parameter %q has no llama.cpp tensor name", name)
	}
	top := map[string]string{"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
	blockPrefix, suffixes := "model.layers.", blockSuffixes
	if arch.gpt2 {
		base = strings.TrimPrefix(base, "transformer.")
		top = map[string]string{"wte": "token_embd", "wpe": "position_embd", "ln_f": "output_norm", "lm_head": "output"}
		blockPrefix, suffixes = "h.", gpt2Suffixes
	}
	if g, ok := top[base]; ok {
		return g + "." + kind, nil
	}
	if rest, ok := strings.CutPrefix(base, blockPrefix); ok {
		num, suffix, _ := strings.Cut(rest, ".")
		if n, err := strconv.Atoi(num); err == nil && n >= 0 {
			g, ok := suffixes[suffix]
			if arch.name == "gemma3" {
				if gg, ok2 := gemma3Suffixes[suffix]; ok2 {
					g, ok = gg, true
				}
			}
			if ok {
				return fmt.Sprintf("blk.%d.%s.%s", n, g, kind), nil
			}
		}
	}
	return "", fmt.Errorf("parameter %q has no llama.cpp tensor name for architecture %s", name, arch.name)
}

func cutLast(s string) (string, string, bool) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// planTensor decides a tensor's type and dimensions and how its data is
// produced from the parameter.
func planTensor(arch archSpec, gname string, prm *nn.Param, info model.Info, heads, headDim int, typ gguf.TensorType) (plannedTensor, error) {
	shape := slices.Clone(prm.W.Shape)
	src := prm.W.Data
	var transform func([]float32) []float32
	switch {
	case arch.gpt2 && len(shape) == 2 && (strings.HasSuffix(gname, "attn_qkv.weight") || strings.HasSuffix(gname, "attn_output.weight") || strings.HasSuffix(gname, "ffn_up.weight") || strings.HasSuffix(gname, "ffn_down.weight")):
		// Conv1D stores [in, out]; llama.cpp wants rows of length in.
		in, out := shape[0], shape[1]
		shape = []int{out, in}
		transform = func(x []float32) []float32 { return transpose(x, in, out) }
	case arch.permuteQK && (strings.HasSuffix(gname, "attn_q.weight") || strings.HasSuffix(gname, "attn_q.bias")):
		transform = func(x []float32) []float32 { return permuteRotary(x, heads, headDim) }
	case arch.permuteQK && (strings.HasSuffix(gname, "attn_k.weight") || strings.HasSuffix(gname, "attn_k.bias")):
		transform = func(x []float32) []float32 { return permuteRotary(x, info.KVHeads, headDim) }
	case arch.normShift != 0 && strings.HasSuffix(gname, "norm.weight"):
		shift := arch.normShift
		transform = func(x []float32) []float32 {
			y := make([]float32, len(x))
			for i, v := range x {
				y[i] = v + shift
			}
			return y
		}
	}
	if len(shape) < 1 || len(shape) > 2 {
		return plannedTensor{}, fmt.Errorf("shape %v: want 1 or 2 dimensions", shape)
	}
	dims := slices.Clone(shape)
	slices.Reverse(dims)
	t := plannedTensor{name: gname, dims: dims, typ: tensorType(gname, dims, typ)}
	t.data = func() []float32 {
		if transform != nil {
			return transform(src)
		}
		return src
	}
	return t, nil
}

// tensorType is the converter's choice: F32 for 1-D tensors, norms,
// biases and the position embedding; the requested type otherwise, with
// Q8_0 falling back to F16 for rows that are not whole blocks.
func tensorType(gname string, dims []int, typ gguf.TensorType) gguf.TensorType {
	switch {
	case len(dims) == 1, strings.HasSuffix(gname, "_norm.weight"), !strings.HasSuffix(gname, ".weight"), strings.HasPrefix(gname, "position_embd."):
		return gguf.F32
	case dims[0]%typ.BlockSize() != 0:
		return gguf.F16
	}
	return typ
}

// transpose returns the [cols, rows] transpose of x laid out [rows, cols].
func transpose(x []float32, rows, cols int) []float32 {
	y := make([]float32, len(x))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			y[c*rows+r] = x[r*cols+c]
		}
	}
	return y
}

// permuteRotary reorders the rows of a q or k projection (weight [heads·hd,
// in] or bias [heads·hd]) from transformers' rotary layout, where a head's
// pairs are (j, j + hd/2), to the interleaved one llama.cpp's Llama graph
// uses, where they are (2j, 2j+1): row h·hd + 2j + s takes row h·hd +
// s·hd/2 + j. This is llama.cpp's converter's permute.
func permuteRotary(x []float32, heads, hd int) []float32 {
	width := len(x) / (heads * hd)
	y := make([]float32, len(x))
	half := hd / 2
	for h := 0; h < heads; h++ {
		for j := 0; j < half; j++ {
			for s := 0; s < 2; s++ {
				dst := (h*hd + 2*j + s) * width
				src := (h*hd + s*half + j) * width
				copy(y[dst:dst+width], x[src:src+width])
			}
		}
	}
	return y
}
