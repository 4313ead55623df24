package llamacpp

import (
	"testing"
	"unsafe"
)

// TestLayouts pins the Go mirrors to the offsets read off the pinned
// build's compiled llama_model_default_params, llama_context_default_params
// and llama_batch_init (which store every field), so that a reordered or
// retyped field fails here, without the library, as well as in Open.
func TestLayouts(t *testing.T) {
	for _, tc := range []struct {
		what string
		got  []layout
		want map[string]uintptr
	}{
		{"llama_model_params", modelParamsLayout(), map[string]uintptr{
			"n_gpu_layers": 0x10, "split_mode": 0x14, "load_mode": 0x18, "lazy_mode": 0x1c, "main_gpu": 0x20,
			"tensor_split": 0x28, "kv_overrides": 0x40, "vocab_only": 0x48, "load_mtp": 0x4d, "sizeof": 0x50,
		}},
		{"llama_context_params", contextParamsLayout(), map[string]uintptr{
			"n_outputs_max_per_seq": 0x18, "n_threads": 0x1c, "ctx_type": 0x24, "flash_attn_type": 0x34,
			"rope_freq_base": 0x38, "yarn_orig_ctx": 0x50, "defrag_thold": 0x54, "cb_eval": 0x58, "type_k": 0x68,
			"abort_callback": 0x70, "embeddings": 0x80, "kv_unified": 0x85, "samplers": 0x88, "ctx_other": 0x98, "sizeof": 0xa0,
		}},
	} {
		if len(tc.got) != len(tc.want) {
			t.Errorf("%s: %d fields checked, want %d", tc.what, len(tc.got), len(tc.want))
		}
		for _, f := range tc.got {
			if want, ok := tc.want[f.name]; !ok || f.offset != want {
				t.Errorf("%s.%s at %#x, want %#x", tc.what, f.name, f.offset, want)
			}
		}
	}
	var b batch
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"token", unsafe.Offsetof(b.token), 0x08}, {"embd", unsafe.Offsetof(b.embd), 0x10},
		{"pos", unsafe.Offsetof(b.pos), 0x18}, {"n_seq_id", unsafe.Offsetof(b.nSeqID), 0x20},
		{"seq_id", unsafe.Offsetof(b.seqID), 0x28}, {"logits", unsafe.Offsetof(b.logits), 0x30},
		{"sizeof", unsafe.Sizeof(b), 0x38},
	} {
		if f.got != f.want {
			t.Errorf("llama_batch.%s at %#x, want %#x", f.name, f.got, f.want)
		}
	}
}

// TestCheckDefaults: the pinned build's defaults pass, and a shift of one
// field (what a layout change does to the values read) is refused.
func TestCheckDefaults(t *testing.T) {
	if err := checkDefaults(wantModelDefaults, wantContextDefaults); err != nil {
		t.Fatal(err)
	}
	mp := wantModelDefaults
	mp.loadMode, mp.lazyMode, mp.mainGPU = mp.lazyMode, mp.mainGPU, 0
	if checkDefaults(mp, wantContextDefaults) == nil {
		t.Error("shifted llama_model_params accepted")
	}
	cp := wantContextDefaults
	cp.nRsSeq, cp.nOutputsMax, cp.nOutputsMaxPerSeq = cp.nOutputsMax, cp.nOutputsMaxPerSeq, uint32(cp.nThreads)
	if checkDefaults(wantModelDefaults, cp) == nil {
		t.Error("shifted llama_context_params accepted")
	}
}
