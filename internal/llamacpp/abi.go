package llamacpp

import (
	"fmt"
	"unsafe"
)

// PinnedPackage is the npm package whose bins/linux-x64 directory Open
// expects, the build the layouts below were read from.
const PinnedPackage = "@node-llama-cpp/linux-x64@3.21.1"

// Library file names in the pinned package's bins/linux-x64 directory.
const (
	libLlamaName = "libllama.v0.4.0.so"
	libGGMLName  = "libggml.v0.4.0.so"
)

// modelParams is struct llama_model_params of the pinned build (80 bytes).
type modelParams struct {
	devices             uintptr // ggml_backend_dev_t *, NULL-terminated; NULL: all
	tensorBuftOverrides uintptr // const struct llama_model_tensor_buft_override *
	nGPULayers          int32   // 0x10
	splitMode           int32   // 0x14, enum llama_split_mode
	loadMode            int32   // 0x18, enum llama_load_mode
	lazyMode            int32   // 0x1c, enum llama_lazy_mode
	mainGPU             int32   // 0x20
	tensorSplit         uintptr // 0x28, const float *
	progressCallback    uintptr // 0x30
	progressUserData    uintptr // 0x38
	kvOverrides         uintptr // 0x40, const struct llama_model_kv_override *
	vocabOnly           bool    // 0x48
	checkTensors        bool
	useExtraBufts       bool
	noHost              bool
	noAlloc             bool
	loadMTP             bool // 0x4d
}

// contextParams is struct llama_context_params of the pinned build (160
// bytes).
type contextParams struct {
	nCtx              uint32 // 0x00; 0: from the model
	nBatch            uint32
	nUbatch           uint32
	nSeqMax           uint32
	nRsSeq            uint32
	nOutputsMax       uint32
	nOutputsMaxPerSeq uint32
	nThreads          int32 // 0x1c
	nThreadsBatch     int32
	ctxType           int32 // 0x24, enum llama_context_type
	ropeScalingType   int32
	poolingType       int32
	attentionType     int32
	flashAttnType     int32   // 0x34, enum llama_flash_attn_type
	ropeFreqBase      float32 // 0x38
	ropeFreqScale     float32
	yarnExtFactor     float32
	yarnAttnFactor    float32
	yarnBetaFast      float32
	yarnBetaSlow      float32
	yarnOrigCtx       uint32  // 0x50
	defragThold       float32 // 0x54
	cbEval            uintptr // 0x58
	cbEvalUserData    uintptr
	typeK             int32 // 0x68, enum ggml_type
	typeV             int32
	abortCallback     uintptr // 0x70
	abortCallbackData uintptr
	embeddings        bool // 0x80
	offloadKQV        bool
	noPerf            bool
	opOffload         bool
	swaFull           bool
	kvUnified         bool
	samplers          uintptr // 0x88, struct llama_sampler_seq_config *
	nSamplers         uintptr // size_t
	ctxOther          uintptr // 0x98, struct llama_context *
}

// batch is struct llama_batch (56 bytes). Its arrays are allocated by
// llama_batch_init in C memory, which the garbage collector ignores.
type batch struct {
	nTokens int32
	token   *int32   // llama_token *
	embd    *float32 // float *
	pos     *int32   // llama_pos *
	nSeqID  *int32   // int32_t *
	seqID   **int32  // llama_seq_id **
	logits  *int8    // int8_t *
}

// Enum values used here.
const (
	ggmlTypeF32          = 0  // enum ggml_type GGML_TYPE_F32
	ggmlTypeF16          = 1  // GGML_TYPE_F16
	flashAttnDisabled    = 0  // LLAMA_FLASH_ATTN_TYPE_DISABLED
	splitModeLayer       = 1  // LLAMA_SPLIT_MODE_LAYER
	unspecified          = -1 // the *_UNSPECIFIED / *_AUTO of the enums
	ggmlLogLevelWarn     = 3  // GGML_LOG_LEVEL_WARN
	ggmlLogLevelError    = 4  // GGML_LOG_LEVEL_ERROR
	ggmlLogLevelContinue = 5  // GGML_LOG_LEVEL_CONT
)

// layout is one field's offset and size in a C struct, for the checks of
// the Go mirrors above (abi_test.go) against the offsets read off the
// compiled library.
type layout struct {
	name         string
	offset, size uintptr
}

func modelParamsLayout() []layout {
	var p modelParams
	return []layout{
		{"n_gpu_layers", unsafe.Offsetof(p.nGPULayers), 4},
		{"split_mode", unsafe.Offsetof(p.splitMode), 4},
		{"load_mode", unsafe.Offsetof(p.loadMode), 4},
		{"lazy_mode", unsafe.Offsetof(p.lazyMode), 4},
		{"main_gpu", unsafe.Offsetof(p.mainGPU), 4},
		{"tensor_split", unsafe.Offsetof(p.tensorSplit), 8},
		{"kv_overrides", unsafe.Offsetof(p.kvOverrides), 8},
		{"vocab_only", unsafe.Offsetof(p.vocabOnly), 1},
		{"load_mtp", unsafe.Offsetof(p.loadMTP), 1},
		{"sizeof", unsafe.Sizeof(p), 0},
	}
}

func contextParamsLayout() []layout {
	var p contextParams
	return []layout{
		{"n_outputs_max_per_seq", unsafe.Offsetof(p.nOutputsMaxPerSeq), 4},
		{"n_threads", unsafe.Offsetof(p.nThreads), 4},
		{"ctx_type", unsafe.Offsetof(p.ctxType), 4},
		{"flash_attn_type", unsafe.Offsetof(p.flashAttnType), 4},
		{"rope_freq_base", unsafe.Offsetof(p.ropeFreqBase), 4},
		{"yarn_orig_ctx", unsafe.Offsetof(p.yarnOrigCtx), 4},
		{"defrag_thold", unsafe.Offsetof(p.defragThold), 4},
		{"cb_eval", unsafe.Offsetof(p.cbEval), 8},
		{"type_k", unsafe.Offsetof(p.typeK), 4},
		{"abort_callback", unsafe.Offsetof(p.abortCallback), 8},
		{"embeddings", unsafe.Offsetof(p.embeddings), 1},
		{"kv_unified", unsafe.Offsetof(p.kvUnified), 1},
		{"samplers", unsafe.Offsetof(p.samplers), 8},
		{"ctx_other", unsafe.Offsetof(p.ctxOther), 8},
		{"sizeof", unsafe.Sizeof(p), 0},
	}
}

// wantModelDefaults and wantContextDefaults are what the pinned build's
// llama_model_default_params and llama_context_default_params return
// (GGML_DEFAULT_N_THREADS is 4). Any other build whose defaults differ at
// one of these fields is refused, since its layout cannot be assumed.
var (
	wantModelDefaults = modelParams{
		nGPULayers: -1, splitMode: splitModeLayer, loadMode: -1, lazyMode: 1,
		useExtraBufts: true,
	}
	wantContextDefaults = contextParams{
		nCtx: 512, nBatch: 2048, nUbatch: 512, nSeqMax: 1, nOutputsMaxPerSeq: 1,
		nThreads: 4, nThreadsBatch: 4,
		ropeScalingType: unspecified, poolingType: unspecified, attentionType: unspecified, flashAttnType: unspecified,
		yarnExtFactor: -1, yarnAttnFactor: -1, yarnBetaFast: -1, yarnBetaSlow: -1, defragThold: -1,
		typeK: ggmlTypeF16, typeV: ggmlTypeF16,
		offloadKQV: true, noPerf: true, opOffload: true, swaFull: true,
	}
)

// checkDefaults compares the library's default parameters with the pinned
// build's, and so checks that the Go mirrors' layouts are the library's:
// a field inserted or removed upstream shifts the values the library writes
// into other fields of the Go struct. (No default is NaN, so == compares
// the floats exactly.)
func checkDefaults(mp modelParams, cp contextParams) error {
	if mp != wantModelDefaults {
		return fmt.Errorf("llama_model_default_params returned %+v, want the pinned build's %+v: this libllama is not the build of %s, whose struct layouts this package mirrors", mp, wantModelDefaults, PinnedPackage)
	}
	got, want := cp, wantContextDefaults
	if got != want {
		return fmt.Errorf("llama_context_default_params returned %+v, want the pinned build's %+v: this libllama is not the build of %s, whose struct layouts this package mirrors", cp, want, PinnedPackage)
	}
	return nil
}
