package safetensors

import (
	"math"
	"slices"
	"testing"
)

// testdata/llama_model.safetensors and testdata/base_ref.safetensors are
// copies of a tiny Llama checkpoint and its reference outputs saved by
// PyTorch's safetensors writer.

func TestRealLlamaFile(t *testing.T) {
	f, err := Open("testdata/llama_model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := f.Names()
	if len(names) != 21 {
		t.Errorf("%d tensors, want 21: %v", len(names), names)
	}
	if md := f.Metadata(); md["format"] != "pt" {
		t.Errorf("metadata = %v", md)
	}
	shapes := map[string][]int{
		"lm_head.weight":                                 {256, 64},
		"model.embed_tokens.weight":                      {256, 64},
		"model.norm.weight":                              {64},
		"model.layers.0.self_attn.k_proj.weight":         {32, 64},
		"model.layers.1.mlp.down_proj.weight":            {64, 128},
		"model.layers.1.post_attention_layernorm.weight": {64},
	}
	for name, want := range shapes {
		info, ok := f.Info(name)
		if !ok || info.DType != F32 || !slices.Equal(info.Shape, want) {
			t.Errorf("%s: info %+v, %v; want F32 %v", name, info, ok, want)
		}
	}
	head, err := f.Float32("lm_head.weight")
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0.06132452189922333, -0.10277076810598373, -0.08947542309761047, -0.11700393259525299}
	if !slices.Equal(head.Data[:4], want) {
		t.Errorf("lm_head.weight[:4] = %v, want %v", head.Data[:4], want)
	}
	var sumSq float64
	for _, v := range head.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("lm_head.weight holds %v", v)
		}
		sumSq += float64(v) * float64(v)
	}
	if rms := math.Sqrt(sumSq / float64(len(head.Data))); rms < 0.01 || rms > 1 {
		t.Errorf("lm_head.weight rms = %v, not an initialised weight", rms)
	}
	norm, err := f.Float32("model.layers.0.input_layernorm.weight")
	if err != nil {
		t.Fatal(err)
	}
	if w := []float32{1.1770251989364624, 1.1455212831497192, 0.8838716745376587, 0.8969264030456543}; !slices.Equal(norm.Data[:4], w) {
		t.Errorf("input_layernorm[:4] = %v, want %v", norm.Data[:4], w)
	}
	for _, name := range names {
		if _, err := f.Float32(name); err != nil {
			t.Error(err)
		}
	}
}

func TestRealBaseRef(t *testing.T) {
	f, err := Open("testdata/base_ref.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Names(); !slices.Equal(got, []string{"input_ids", "logits", "loss"}) {
		t.Errorf("Names = %v", got)
	}
	ids, shape, err := f.Int64("input_ids")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shape, []int{2, 16}) || len(ids) != 32 {
		t.Fatalf("input_ids shape %v, %d values", shape, len(ids))
	}
	if want := []int64{135, 96, 242, 72}; !slices.Equal(ids[:4], want) {
		t.Errorf("input_ids[:4] = %v, want %v", ids[:4], want)
	}
	for _, id := range ids {
		if id < 0 || id >= 256 {
			t.Errorf("token id %d outside the 256-token vocabulary", id)
		}
	}
	logits, err := f.Float32("logits")
	if err != nil || !slices.Equal(logits.Shape, []int{2, 16, 256}) {
		t.Errorf("logits = %v, %v", logits, err)
	}
	if _, err := f.Float32("input_ids"); err == nil {
		t.Error("Float32 of I64 input_ids succeeded")
	}
}
