package export

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/gguf"
	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tokenizer"

	_ "github.com/orthotune/orthotune/peft/boft"
	_ "github.com/orthotune/orthotune/peft/hra"
	_ "github.com/orthotune/orthotune/peft/lora"
	_ "github.com/orthotune/orthotune/peft/oft"
)

// fixture is a model directory with a tokenizer, ready to export.
type fixture struct {
	modelType string
	dir       string
	layers    int
	vocab     int
	tied      bool
	adapters  []string // adapter directories for this model
}

// copyModel copies config.json and model.safetensors of src into a new
// directory.
func copyModel(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	for _, name := range []string{"config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// byteTokenizer writes a 256-token byte-level BPE (no merges) with the given
// chat template and token 0 as EOS into dir.
func byteTokenizer(t testing.TB, dir, chatTemplate string) {
	t.Helper()
	tok := tokenizer.TrainByteLevelBPE([]string{"hello"}, 256, nil)
	if tok.VocabSize() != 256 {
		t.Fatalf("byte tokenizer has %d tokens", tok.VocabSize())
	}
	eos, _ := tok.Token(0)
	if err := tok.SetSpecialToken("eos_token", eos); err != nil {
		t.Fatal(err)
	}
	tok.SetChatTemplate(chatTemplate)
	if err := tok.WriteFile(dir); err != nil {
		t.Fatal(err)
	}
}

// realTokenizer copies tokenizer/testdata/NAME's files into dir.
func realTokenizer(t testing.TB, dir, name string) {
	t.Helper()
	src := filepath.Join("..", "tokenizer", "testdata", name)
	f, err := os.Open(filepath.Join(src, "tokenizer.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(src, "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fixtures(t testing.TB) []fixture {
	t.Helper()
	ref := func(modelType, src string, layers int, tied bool, tmpl string, adapters ...string) fixture {
		dir := copyModel(t, src)
		byteTokenizer(t, dir, tmpl)
		for i, a := range adapters {
			if !strings.Contains(a, "/") {
				adapters[i] = filepath.Join(src, a)
			}
		}
		return fixture{modelType: modelType, dir: dir, layers: layers, vocab: 256, tied: tied, adapters: adapters}
	}
	mistral := t.TempDir()
	if _, err := testmodel.Write(mistral, testmodel.Spec{ModelType: "mistral", Vocab: 32000, Hidden: 32, Heads: 4, KVHeads: 2, Layers: 2, Intermediate: 64, SlidingWindow: 64}); err != nil {
		t.Fatal(err)
	}
	realTokenizer(t, mistral, "mistral")
	qwen2 := t.TempDir()
	if _, err := testmodel.Write(qwen2, testmodel.Spec{ModelType: "qwen2", Vocab: 151680, Hidden: 16, Heads: 2, KVHeads: 1, Layers: 1, Intermediate: 32, Tied: true}); err != nil {
		t.Fatal(err)
	}
	realTokenizer(t, qwen2, "qwen2.5")
	return []fixture{
		ref("llama", "../testdata/peft-ref/model/llama", 2, false, "", "oft", "lora",
			"../testdata/peft-ref-ortho/model/llama/boft", "../testdata/peft-ref-ortho/model/llama/hra"),
		ref("gpt2", "../testdata/peft-ref/model/gpt2", 2, true, "", "lora", "oft",
			"../testdata/peft-ref-ortho/model/gpt2/boft_conv1d", "../testdata/peft-ref-ortho/model/gpt2/hra_conv1d"),
		ref("qwen3", "../testdata/peft-ref-models/model/qwen3", 0, false, "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}", "oft"),
		llamaCppGemma3(t, ref("gemma3_text", "../testdata/peft-ref-models/model/gemma3", 4, true, "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m.role }}\n{{ m.content }}<end_of_turn>\n{% endfor %}", "oft")),
		{modelType: "mistral", dir: mistral, layers: 2, vocab: 32000},
		{modelType: "qwen2", dir: qwen2, layers: 1, vocab: 151680, tied: true},
	}
}

// llamaCppGemma3 rewrites the reference Gemma 3's config (sliding and
// global layers alternating, query_pre_attn_scalar 24 ≠ head_dim 32) into
// what llama.cpp's gemma3 graph computes — every sixth layer global, so
// all four sliding here, and query_pre_attn_scalar = head_dim — which
// changes no tensor (the unmodified config is refused: TestRefusals).
func llamaCppGemma3(t testing.TB, f fixture) fixture {
	t.Helper()
	path := filepath.Join(f.dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["layer_types"] = []string{"sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention"}
	cfg["query_pre_attn_scalar"] = cfg["head_dim"]
	if b, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// hfSource is the test's own spelling of where a GGUF tensor comes from.
func hfSource(modelType, name string) string {
	if modelType == "gpt2" {
		r := strings.NewReplacer("token_embd", "wte", "position_embd", "wpe", "output_norm", "ln_f", "blk.", "h.",
			"attn_norm", "ln_1", "attn_qkv", "attn.c_attn", "attn_output", "attn.c_proj", "ffn_norm", "ln_2",
			"ffn_up", "mlp.c_fc", "ffn_down", "mlp.c_proj")
		return "transformer." + r.Replace(name)
	}
	pairs := []string{"token_embd", "model.embed_tokens", "output_norm", "model.norm", "output.", "lm_head.", "blk.", "model.layers.",
		"attn_q_norm", "self_attn.q_norm", "attn_k_norm", "self_attn.k_norm",
		"attn_q.", "self_attn.q_proj.", "attn_k.", "self_attn.k_proj.", "attn_v.", "self_attn.v_proj.", "attn_output", "self_attn.o_proj",
		"attn_norm", "input_layernorm", "ffn_gate", "mlp.gate_proj", "ffn_up", "mlp.up_proj", "ffn_down", "mlp.down_proj"}
	if modelType == "gemma3_text" {
		pairs = append(pairs, "post_attention_norm", "post_attention_layernorm", "post_ffw_norm", "post_feedforward_layernorm", "ffn_norm", "pre_feedforward_layernorm")
	} else {
		pairs = append(pairs, "ffn_norm", "post_attention_layernorm")
	}
	return strings.NewReplacer(pairs...).Replace(name)
}

// expectedNames lists the tensors llama.cpp's graph for the architecture
// loads.
func expectedNames(f fixture, layers int) []string {
	var names []string
	add := func(n ...string) { names = append(names, n...) }
	add("token_embd.weight", "output_norm.weight")
	if f.modelType == "gpt2" {
		add("position_embd.weight", "output_norm.bias")
	}
	if !f.tied {
		add("output.weight")
	}
	for i := 0; i < layers; i++ {
		b := fmt.Sprintf("blk.%d.", i)
		var per []string
		switch f.modelType {
		case "gpt2":
			for _, s := range []string{"attn_norm", "attn_qkv", "attn_output", "ffn_norm", "ffn_up", "ffn_down"} {
				per = append(per, s+".weight", s+".bias")
			}
		default:
			per = []string{"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"}
			switch f.modelType {
			case "qwen2":
				per = append(per, "attn_q.bias", "attn_k.bias", "attn_v.bias")
			case "qwen3":
				per = append(per, "attn_q_norm.weight", "attn_k_norm.weight")
			case "gemma3_text":
				per = append(per, "attn_q_norm.weight", "attn_k_norm.weight", "post_attention_norm.weight", "post_ffw_norm.weight")
			}
		}
		for _, s := range per {
			add(b + s)
		}
	}
	slices.Sort(names)
	return names
}

func metaU32(t *testing.T, f *gguf.File, key string) uint32 {
	t.Helper()
	v, ok := f.Value(key)
	if !ok {
		t.Fatalf("metadata %q missing", key)
	}
	u, ok := v.(uint32)
	if !ok {
		t.Fatalf("metadata %q is %T, want uint32", key, v)
	}
	return u
}

func export(t *testing.T, dir, adapter string, typ gguf.TensorType) (*gguf.File, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "m.gguf")
	res, err := GGUF(GGUFOptions{ModelDir: dir, AdapterDir: adapter, Out: out, Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if res.Tensors != len(f.Tensors) || res.Bytes == 0 {
		t.Errorf("result %+v, file has %d tensors", res, len(f.Tensors))
	}
	return f, out
}

// TestStructure exports every architecture in every type and checks the
// file: metadata, tensor names, shapes, types and values.
func TestStructure(t *testing.T) {
	for _, fx := range fixtures(t) {
		t.Run(fx.modelType, func(t *testing.T) {
			ckpt, err := safetensors.OpenCheckpoint(fx.dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ckpt.Close()
			for _, typ := range []gguf.TensorType{gguf.F32, gguf.F16, gguf.BF16, gguf.Q8_0} {
				f, _ := export(t, fx.dir, "", typ)
				arch := architectures[fx.modelType].name
				if v, _ := f.Value("general.architecture"); v != arch {
					t.Fatalf("general.architecture %v, want %s", v, arch)
				}
				if got := metaU32(t, f, "general.file_type"); got != fileTypes[typ] {
					t.Errorf("file_type %d", got)
				}
				layers := int(metaU32(t, f, arch+".block_count"))
				if fx.layers != 0 && layers != fx.layers {
					t.Errorf("block_count %d, want %d", layers, fx.layers)
				}
				var names []string
				for _, ti := range f.Tensors {
					names = append(names, ti.Name)
				}
				slices.Sort(names)
				if want := expectedNames(fx, layers); !slices.Equal(names, want) {
					t.Fatalf("tensors\n got %v\nwant %v", names, want)
				}
				tokens, _ := f.Value("tokenizer.ggml.tokens")
				if n := len(tokens.([]string)); n != fx.vocab {
					t.Errorf("%d tokens, want %d", n, fx.vocab)
				}
				emb, _ := f.Tensor("token_embd.weight")
				if int(emb.Dims[1]) != fx.vocab {
					t.Errorf("token_embd dims %v, want vocab %d", emb.Dims, fx.vocab)
				}
				if int(emb.Dims[0]) != int(metaU32(t, f, arch+".embedding_length")) {
					t.Errorf("token_embd dims %v vs embedding_length", emb.Dims)
				}
				for _, ti := range f.Tensors {
					checkTensor(t, fx, f, ckpt, ti, typ)
				}
			}
		})
	}
}

// checkTensor compares a tensor with its checkpoint source, undoing the
// converter's transformations, within the type's rounding.
func checkTensor(t *testing.T, fx fixture, f *gguf.File, ckpt *safetensors.Checkpoint, ti gguf.TensorInfo, typ gguf.TensorType) {
	t.Helper()
	want := typ
	oneD := len(ti.Dims) == 1 || strings.HasSuffix(ti.Name, "_norm.weight") || strings.HasSuffix(ti.Name, ".bias") || strings.HasPrefix(ti.Name, "position_embd")
	if oneD {
		want = gguf.F32
	} else if typ == gguf.Q8_0 && ti.Dims[0]%32 != 0 {
		want = gguf.F16 // the converter's fallback for rows that are not whole blocks
	}
	if ti.Type != want {
		t.Errorf("%s: type %v, want %v", ti.Name, ti.Type, want)
	}
	src := hfSource(fx.modelType, ti.Name)
	ref, err := ckpt.Float32(src)
	if err != nil && fx.modelType == "gpt2" {
		ref, err = ckpt.Float32(strings.TrimPrefix(src, "transformer."))
	}
	if err != nil {
		t.Fatalf("%s: source %s: %v", ti.Name, src, err)
	}
	got, err := f.Float32(ti.Name)
	if err != nil {
		t.Fatal(err)
	}
	rows, cols := int(ti.Elements()/ti.Dims[0]), int(ti.Dims[0])
	arch := architectures[fx.modelType]
	switch {
	case fx.modelType == "gpt2" && len(ref.Shape) == 2 && !strings.Contains(ti.Name, "embd"):
		got = transpose(got, rows, cols) // back to Conv1D's [in, out]
	case arch.permuteQK && (strings.Contains(ti.Name, "attn_q.") || strings.Contains(ti.Name, "attn_k.")):
		heads := int(metaU32(t, f, arch.name+".attention.head_count"))
		if strings.Contains(ti.Name, "attn_k.") {
			heads = int(metaU32(t, f, arch.name+".attention.head_count_kv"))
		}
		got = unpermuteRotary(got, heads, int(metaU32(t, f, arch.name+".rope.dimension_count")))
	case arch.normShift != 0 && strings.HasSuffix(ti.Name, "norm.weight"):
		for i := range got {
			got[i] -= arch.normShift
		}
	}
	dims := slices.Clone(ref.Shape)
	if fx.modelType == "gpt2" && len(dims) == 2 && !strings.Contains(ti.Name, "embd") {
		dims[0], dims[1] = dims[1], dims[0]
	}
	slices.Reverse(dims)
	if fmt.Sprint(dims) != fmt.Sprint(ti.Dims) {
		t.Errorf("%s: dims %v, want %v (from %s %v)", ti.Name, ti.Dims, dims, src, ref.Shape)
	}
	whole := maxAbs(ref.Data)
	for r := 0; r < rows; r++ {
		var amax float64
		for c := 0; c < cols; c++ {
			amax = max(amax, math.Abs(float64(ref.Data[r*cols+c])))
		}
		for c := 0; c < cols; c++ {
			i := r*cols + c
			x := float64(ref.Data[i])
			var tol float64
			if arch.normShift != 0 && strings.HasSuffix(ti.Name, "norm.weight") {
				tol = 0x1p-22 * (1 + math.Abs(x)) // (x + 1) − 1 in float32
			}
			switch ti.Type {
			case gguf.F16:
				tol = math.Abs(x)*0x1p-11 + 0x1p-25
			case gguf.BF16:
				tol = math.Abs(x) * 0x1p-8
			case gguf.Q8_0:
				// Half a step of the block's scale (max|x|/127 within the
				// block, at most the row's), plus the scale's fp16 rounding.
				tol = amax/127/2*(1+0x1p-10) + amax*0x1p-11
			}
			if fx.modelType == "gpt2" && len(ref.Shape) == 2 && !strings.Contains(ti.Name, "embd") {
				// got is back in the checkpoint's layout; the block
				// structure was along the other axis: use the tensor's max.
				if ti.Type == gguf.Q8_0 {
					tol = whole/127/2*(1+0x1p-10) + whole*0x1p-11
				}
			}
			if math.Abs(float64(got[i])-x) > tol {
				t.Fatalf("%s %v [%d]: %v, want %v ± %g", ti.Name, ti.Type, i, got[i], x, tol)
			}
		}
	}
}

func maxAbs(x []float32) float64 {
	var m float64
	for _, v := range x {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

// unpermuteRotary inverts permuteRotary.
func unpermuteRotary(y []float32, heads, hd int) []float32 {
	width := len(y) / (heads * hd)
	x := make([]float32, len(y))
	for h := 0; h < heads; h++ {
		for r := 0; r < hd; r++ {
			// y's row h·hd + r holds x's row h·hd + (r%2)·hd/2 + r/2.
			copy(x[(h*hd+(r%2)*hd/2+r/2)*width:][:width], y[(h*hd+r)*width:][:width])
		}
	}
	return x
}

func TestPermuteRotary(t *testing.T) {
	// One head of dimension 4, rows of width 1: transformers pairs rows
	// (0, 2) and (1, 3); llama.cpp wants them adjacent.
	if got := permuteRotary([]float32{0, 1, 2, 3}, 1, 4); !reflect.DeepEqual(got, []float32{0, 2, 1, 3}) {
		t.Errorf("permute = %v, want [0 2 1 3]", got)
	}
	x := make([]float32, 3*8*5)
	for i := range x {
		x[i] = float32(i)
	}
	if got := unpermuteRotary(permuteRotary(x, 3, 8), 3, 8); !reflect.DeepEqual(got, x) {
		t.Error("unpermute(permute(x)) ≠ x")
	}
}

// TestMetadata checks the architecture and tokenizer metadata values.
func TestMetadata(t *testing.T) {
	fx := fixtures(t)
	byType := map[string]fixture{}
	for _, f := range fx {
		byType[f.modelType] = f
	}
	cases := []struct {
		model string
		want  map[string]any
	}{
		{"llama", map[string]any{
			"llama.context_length": uint32(128), "llama.embedding_length": uint32(64), "llama.block_count": uint32(2),
			"llama.feed_forward_length": uint32(128), "llama.attention.head_count": uint32(4), "llama.attention.head_count_kv": uint32(2),
			"llama.rope.freq_base": float32(10000), "llama.attention.layer_norm_rms_epsilon": float32(1e-6),
			"llama.attention.key_length": uint32(16), "llama.rope.dimension_count": uint32(16),
			"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2", "tokenizer.ggml.eos_token_id": uint32(0),
			"tokenizer.ggml.add_bos_token": false,
		}},
		{"qwen3", map[string]any{
			"general.architecture": "qwen3", "qwen3.attention.key_length": uint32(32), "qwen3.attention.value_length": uint32(32),
			"qwen3.rope.freq_base": float32(1e6), "qwen3.context_length": uint32(128), "tokenizer.chat_template": "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}",
		}},
		{"gpt2", map[string]any{
			"gpt2.context_length": uint32(64), "gpt2.embedding_length": uint32(64), "gpt2.feed_forward_length": uint32(256),
			"gpt2.attention.head_count": uint32(4), "gpt2.attention.layer_norm_epsilon": float32(1e-5),
		}},
		{"gemma3_text", map[string]any{
			"gemma3.attention.key_length": uint32(32), "gemma3.attention.value_length": uint32(32), "gemma3.attention.sliding_window": uint32(8),
			"gemma3.rope.freq_base": float32(1e6), "gemma3.rope.freq_base_swa": float32(1e4),
			"gemma3.attention.sliding_window_pattern": []bool{true, true, true, true}, "gemma3.attention.head_count_kv": uint32(1),
		}},
		{"mistral", map[string]any{
			"general.architecture": "llama", "tokenizer.ggml.model": "llama", "tokenizer.ggml.bos_token_id": uint32(1),
			"tokenizer.ggml.eos_token_id": uint32(2), "tokenizer.ggml.unknown_token_id": uint32(0),
			"tokenizer.ggml.add_bos_token": true, "tokenizer.ggml.add_eos_token": false, "llama.attention.sliding_window": uint32(64),
			"tokenizer.ggml.add_space_prefix": true,
		}},
		{"qwen2", map[string]any{
			"general.architecture": "qwen2", "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "qwen2",
			"tokenizer.ggml.eos_token_id": uint32(151645), "tokenizer.ggml.padding_token_id": uint32(151643), "tokenizer.ggml.add_bos_token": false,
		}},
	}
	for _, c := range cases {
		f, _ := export(t, byType[c.model].dir, "", gguf.F32)
		for k, want := range c.want {
			if got, ok := f.Value(k); !ok || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s = %#v, want %#v", c.model, k, got, want)
			}
		}
		if _, ok := f.Value("qwen3.attention.key_length"); ok && c.model != "qwen3" {
			t.Errorf("%s has qwen3 keys", c.model)
		}
	}
	// SentencePiece-style: byte tokens typed BYTE, scores from merge ranks,
	// no merges.
	f, _ := export(t, byType["mistral"].dir, "", gguf.F32)
	tokens, _ := f.Value("tokenizer.ggml.tokens")
	types, _ := f.Value("tokenizer.ggml.token_type")
	scores, _ := f.Value("tokenizer.ggml.scores")
	toks, tys, scs := tokens.([]string), types.([]int32), scores.([]float32)
	if tys[0] != tokenUnknown || tys[1] != tokenControl || toks[3] != "<0x00>" || tys[3] != tokenByte || tys[1000] != tokenNormal {
		t.Errorf("types %v of %q", tys[:4], toks[:4])
	}
	if _, ok := f.Value("tokenizer.ggml.merges"); ok {
		t.Error("a llama (SentencePiece) vocabulary with merges")
	}
	distinct := map[float32]bool{}
	for id, sc := range scs {
		if tys[id] == tokenByte && sc != 0 || sc > 0 {
			t.Fatalf("token %d %q: score %v", id, toks[id], sc)
		}
		distinct[sc] = true
	}
	if len(distinct) < 25000 {
		t.Errorf("%d distinct scores for 32000 tokens: want one per merged token", len(distinct))
	}
	// Byte-level: merges in rank order.
	f, _ = export(t, byType["qwen2"].dir, "", gguf.F32)
	merges, _ := f.Value("tokenizer.ggml.merges")
	if m := merges.([]string); len(m) < 150000 || m[0] != "Ġ Ġ" {
		t.Errorf("%d merges, first %q", len(m), m[:1])
	}
	if tmpl, _ := f.Value("tokenizer.chat_template"); !strings.Contains(fmt.Sprint(tmpl), "<|im_start|>") {
		t.Error("no ChatML chat template")
	}
}

// TestMergedAdapter checks that an exported adapter's weights are
// orthotune's merge, for each method with a reference adapter.
func TestMergedAdapter(t *testing.T) {
	for _, fx := range fixtures(t) {
		for _, adapter := range fx.adapters {
			t.Run(fx.modelType+"/"+filepath.Base(adapter), func(t *testing.T) { checkMerged(t, fx, adapter) })
		}
	}
}

func checkMerged(t *testing.T, fx fixture, adapter string) {
	pm, _, err := finetune.LoadAdapted(fx.dir, adapter)
	if err != nil {
		t.Fatal(err)
	}
	if err := pm.Merge(); err != nil {
		t.Fatal(err)
	}
	f, _ := export(t, fx.dir, adapter, gguf.F32)
	base, _ := export(t, fx.dir, "", gguf.F32)
	arch := architectures[fx.modelType]
	changed := 0
	for _, p := range pm.Params() {
		name, err := tensorName(arch, p.Name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		ti, _ := f.Tensor(name)
		tp, _ := planTensor(arch, name, p, pm.Info(), int(metaU32(t, f, arch.name+".attention.head_count")), headDimOf(t, f, arch.name), gguf.F32)
		if !reflect.DeepEqual(got, tp.data()) {
			t.Errorf("%s differs from orthotune's merge", name)
		}
		if b, _ := base.Float32(name); !reflect.DeepEqual(b, got) {
			changed++
		}
		_ = ti
	}
	if changed == 0 {
		t.Error("the adapter changed no tensor")
	}
}

func headDimOf(t *testing.T, f *gguf.File, arch string) int {
	if v, ok := f.Value(arch + ".attention.key_length"); ok {
		return int(v.(uint32))
	}
	return int(metaU32(t, f, arch+".embedding_length") / metaU32(t, f, arch+".attention.head_count"))
}

func TestPrependsSpace(t *testing.T) {
	for raw, want := range map[string]bool{
		`{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]}`: true,
		`{"type":"Replace","pattern":{"String":" "},"content":"▁"}`:                                                                      false, // Gemma 3
		`{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false}`:                                                  true,
		`{"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":false}`:                                                  false,
		`{"type":"Metaspace","replacement":"▁","add_prefix_space":true}`:                                                                 true,
		`{"type":"Sequence","pretokenizers":[{"type":"Metaspace","prepend_scheme":"always"}]}`:                                           true,
		`null`: false,
	} {
		if got := prependsSpace(json.RawMessage(raw)); got != want {
			t.Errorf("%s: %v, want %v", raw, got, want)
		}
	}
}

func TestRefusals(t *testing.T) {
	fx := fixtures(t)
	llama := fx[0]
	noTok := copyModel(t, "../testdata/peft-ref/model/llama")
	wordpiece := copyModel(t, "../testdata/peft-ref/model/llama")
	os.WriteFile(filepath.Join(wordpiece, "tokenizer.json"), []byte(`{"model":{"type":"WordPiece","vocab":{}}}`), 0o644)
	unknownArch := t.TempDir()
	testmodel.Write(unknownArch, testmodel.Spec{ModelType: "llama", Extra: map[string]any{"model_type": "falcon"}})
	gemmaPattern := copyModel(t, "../testdata/peft-ref-models/model/gemma3")
	byteTokenizer(t, gemmaPattern, "")
	qwen3Bias := t.TempDir()
	testmodel.Write(qwen3Bias, testmodel.Spec{ModelType: "qwen3", AttentionBias: true, Vocab: 256})
	byteTokenizer(t, qwen3Bias, "")
	existing := filepath.Join(t.TempDir(), "exists.gguf")
	os.WriteFile(existing, []byte("old"), 0o644)
	readOnly := t.TempDir()
	os.Chmod(readOnly, 0o555)
	t.Cleanup(func() { os.Chmod(readOnly, 0o755) })
	cases := []struct {
		name string
		opts GGUFOptions
		want []string
	}{
		{"no tokenizer", GGUFOptions{ModelDir: noTok}, []string{noTok, "tokenizer.json"}},
		{"wordpiece", GGUFOptions{ModelDir: wordpiece}, []string{"tokenizer.json", "model.type", "WordPiece"}},
		{"architecture", GGUFOptions{ModelDir: unknownArch}, []string{unknownArch, "model_type", "falcon"}},
		{"other model's adapter", GGUFOptions{ModelDir: llama.dir, AdapterDir: "../testdata/peft-ref/model/gpt2/lora"}, []string{"c_attn"}},
		{"existing", GGUFOptions{ModelDir: llama.dir, Out: existing}, []string{existing, "exists"}},
		{"read-only directory", GGUFOptions{ModelDir: llama.dir, Out: filepath.Join(readOnly, "m.gguf")}, []string{filepath.Join(readOnly, "m.gguf")}},
		{"type", GGUFOptions{ModelDir: llama.dir, Type: gguf.TensorType(2)}, []string{"not supported"}},
		{"qwen3 attention bias", GGUFOptions{ModelDir: qwen3Bias}, []string{qwen3Bias, "attention_bias", "attn_q.bias"}},
		{"gemma3 llama.cpp does not compute", GGUFOptions{ModelDir: gemmaPattern}, []string{gemmaPattern, "layer_types", "query_pre_attn_scalar 24"}},
	}
	for _, c := range cases {
		if c.opts.Out == "" {
			c.opts.Out = filepath.Join(t.TempDir(), "m.gguf")
		}
		_, err := GGUF(c.opts)
		if err == nil {
			if os.Geteuid() == 0 && c.name == "read-only directory" {
				// Root writes anywhere; cmd/orthotune's TestExportGGUFDiskFull
				// fails a write part-way under a file size limit instead.
				t.Logf("%s: root wrote into a read-only directory", c.name)
				continue
			}
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
		entries, _ := os.ReadDir(filepath.Dir(c.opts.Out))
		for _, e := range entries {
			if e.Name() != filepath.Base(existing) {
				t.Errorf("%s: left %s behind", c.name, e.Name())
			}
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "old" {
		t.Error("existing file changed")
	}
	if _, err := GGUF(GGUFOptions{ModelDir: llama.dir, Out: existing, Force: true}); err != nil {
		t.Errorf("--force: %v", err)
	}
	if _, err := GGUF(GGUFOptions{ModelDir: llama.dir, Out: existing}); !errors.Is(err, ErrExists) {
		t.Errorf("existing output: %v, want ErrExists", err)
	}
}

func TestModelfile(t *testing.T) {
	for _, c := range []struct {
		fixture, family string
		stops           []string
	}{{"qwen3", "chatml", nil}, {"gemma3_text", "gemma", nil}, {"llama", "", nil}, {"qwen2", "chatml", []string{"<|im_end|>"}}} {
		var fx fixture
		for _, f := range fixtures(t) {
			if f.modelType == c.fixture {
				fx = f
			}
		}
		out := filepath.Join(t.TempDir(), "model.gguf")
		res, err := GGUF(GGUFOptions{ModelDir: fx.dir, Out: out, Modelfile: true})
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(filepath.Dir(out), "Modelfile"))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if res.ModelfileTemplate != c.family || !strings.Contains(text, "FROM ./model.gguf\n") || strings.Contains(text, "TEMPLATE") != (c.family != "") {
			t.Errorf("%s: family %q, Modelfile:\n%s", c.fixture, res.ModelfileTemplate, text)
		}
		if !strings.Contains(text, "PARAMETER stop ") {
			t.Errorf("%s: no stop parameter:\n%s", c.fixture, text)
		}
		for _, s := range c.stops {
			if strings.Count(text, fmt.Sprintf("PARAMETER stop %q\n", s)) != 1 {
				t.Errorf("%s: want one stop %q:\n%s", c.fixture, s, text)
			}
		}
		if _, err := GGUF(GGUFOptions{ModelDir: fx.dir, Out: filepath.Join(filepath.Dir(out), "other.gguf"), Modelfile: true}); err == nil || !strings.Contains(err.Error(), "Modelfile") {
			t.Errorf("%s: existing Modelfile: %v", c.fixture, err)
		}
	}
}

// TestRopeScaling checks linear scaling's metadata and Llama 3 scaling's
// rope_freqs tensor against the factors computed here from the formula
// (1 above the high-frequency wavelength, factor below the low one, a
// smooth interpolation between).
func TestRopeScaling(t *testing.T) {
	write := func(scaling map[string]any) string {
		dir := t.TempDir()
		if _, err := testmodel.Write(dir, testmodel.Spec{ModelType: "llama", Vocab: 256, Hidden: 64, Heads: 2, KVHeads: 2,
			Extra: map[string]any{"rope_theta": 500000.0, "rope_scaling": scaling}}); err != nil {
			t.Fatal(err)
		}
		byteTokenizer(t, dir, "")
		return dir
	}
	f, _ := export(t, write(map[string]any{"rope_type": "linear", "factor": 4.0}), "", gguf.F32)
	if v, _ := f.Value("llama.rope.scaling.type"); v != "linear" {
		t.Errorf("scaling type %v", v)
	}
	if v, _ := f.Value("llama.rope.scaling.factor"); v != float32(4) {
		t.Errorf("scaling factor %v", v)
	}
	const factor, low, high, orig = 8.0, 1.0, 4.0, 64.0
	f, _ = export(t, write(map[string]any{"rope_type": "llama3", "factor": factor, "low_freq_factor": low, "high_freq_factor": high,
		"original_max_position_embeddings": orig}), "", gguf.F32)
	got, err := f.Float32("rope_freqs.weight")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 16 {
		t.Fatalf("%d factors, want head_dim/2 = 16", len(got))
	}
	kinds := map[string]bool{}
	for i, g := range got {
		freq := math.Pow(500000, -float64(2*i)/32)
		wavelen := 2 * math.Pi / freq
		var want float64
		switch {
		case wavelen < orig/high:
			want, kinds["1"] = 1, true
		case wavelen > orig/low:
			want, kinds["factor"] = factor, true
		default:
			smooth := (orig/wavelen - low) / (high - low)
			want, kinds["smooth"] = 1/((1-smooth)/factor+smooth), true
		}
		if math.Abs(float64(g)-want) > 1e-5*want {
			t.Errorf("rope_freqs[%d] = %v, want %v", i, g, want)
		}
	}
	if len(kinds) != 3 {
		t.Errorf("the case reaches %v of the formula's three branches", kinds)
	}
	if _, ok := f.Value("llama.rope.scaling.type"); ok {
		t.Error("llama3 scaling also written as rope.scaling.type")
	}
}

// TestOllamaTemplates renders each TEMPLATE with Go's text/template, as
// Ollama does, on a system, user, assistant, user conversation.
func TestOllamaTemplates(t *testing.T) {
	type msg struct{ Role, Content string }
	data := struct{ Messages []msg }{[]msg{{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "2+2?"}}}
	want := map[string]string{
		"chatml": "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n" +
			"<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n",
		"llama3": "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>" +
			"<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>" +
			"<|start_header_id|>assistant<|end_header_id|>\n\n",
		"gemma": "<start_of_turn>user\nBe brief.<end_of_turn>\n<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n" +
			"<start_of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n",
	}
	for family, tmpl := range ollamaTemplates {
		tp, err := template.New(family).Parse(tmpl)
		if err != nil {
			t.Fatalf("%s: %v", family, err)
		}
		var b strings.Builder
		if err := tp.Execute(&b, data); err != nil {
			t.Fatalf("%s: %v", family, err)
		}
		if b.String() != want[family] {
			t.Errorf("%s renders\n%q\nwant\n%q", family, b.String(), want[family])
		}
	}
}

// TestGemma3Softcap: final_logit_softcapping reaches the metadata, and is
// absent when null.
func TestGemma3Softcap(t *testing.T) {
	dir := t.TempDir()
	if _, err := testmodel.Write(dir, testmodel.Spec{ModelType: "gemma3_text", Vocab: 256, HeadDim: 8, Extra: map[string]any{
		"final_logit_softcapping": 30.0, "sliding_window_pattern": 6, "query_pre_attn_scalar": 8}}); err != nil {
		t.Fatal(err)
	}
	byteTokenizer(t, dir, "")
	f, _ := export(t, dir, "", gguf.F32)
	if v, ok := f.Value("gemma3.final_logit_softcapping"); !ok || v != float32(30) {
		t.Errorf("final_logit_softcapping %v", v)
	}
	for _, fx := range fixtures(t) {
		if fx.modelType == "gemma3_text" {
			f, _ := export(t, fx.dir, "", gguf.F32)
			if v, ok := f.Value("gemma3.final_logit_softcapping"); ok {
				t.Errorf("null softcapping written as %v", v)
			}
		}
	}
}
