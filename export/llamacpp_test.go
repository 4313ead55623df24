//go:build linux && amd64

package export_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/export"
	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/generate"
	"github.com/orthotune/orthotune/gguf"
	"github.com/orthotune/orthotune/internal/demo"
	"github.com/orthotune/orthotune/internal/llamacpp"
	"github.com/orthotune/orthotune/internal/llamacpp/llamacpptest"
	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/model/gemma3"
	"github.com/orthotune/orthotune/model/gpt2"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/peft"
	_ "github.com/orthotune/orthotune/peft/oft"
	"github.com/orthotune/orthotune/tensor"
	"github.com/orthotune/orthotune/tokenizer"
	"github.com/orthotune/orthotune/train"
	"golang.org/x/text/unicode/norm"
)

// These tests are issue 18's "llama.cpp itself agrees": every exported
// file is loaded by llama.cpp's own library (internal/llamacpp, the npm
// build .ci/run installs) and what llama.cpp computes is compared with
// what orthotune computes from the Hugging Face directory.

// llamaTexts are tokenised by both sides: words, digits, punctuation,
// repeated and leading spaces, newlines and tabs, and non-ASCII text.
var llamaTexts = []string{
	"the cat sat on the mat",
	"Hello, World! 12345 + 678 = 13023.",
	"  two  spaces,\nnew lines\n\n\tand a tab",
	"naïve café — “quotes” and emoji 🙂 in UTF-8",
	"it's they're we'll I'd don't",
}

// llamaCorpus trains the tiny models' byte-level BPE.
var llamaCorpus = []string{
	"the cat sat on the mat", "a dog ran in the park", "the quick brown fox jumps over the lazy dog",
	"hello world, hello there", "one two three four five six seven eight nine ten",
}

// llamaCase is a model directory to export.
type llamaCase struct {
	name string
	dir  func(t *testing.T) string
}

// llamaRefModel copies a reference model's config and weights (checked in
// without a tokenizer) and gives it a byte-level tokenizer of exactly
// its 256 ids: the 256 bytes, no merges.
func llamaRefModel(rel string) func(t *testing.T) string {
	return func(t *testing.T) string {
		t.Helper()
		dir := t.TempDir()
		for _, name := range []string{"config.json", "model.safetensors"} {
			b, err := os.ReadFile(filepath.Join("..", "testdata", rel, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		tok := tokenizer.TrainByteLevelBPE(llamaCorpus, 256, nil)
		if tok.VocabSize() != 256 {
			t.Fatalf("bytes-only tokenizer has %d tokens", tok.VocabSize())
		}
		if err := tok.WriteFile(dir); err != nil {
			t.Fatal(err)
		}
		return dir
	}
}

// llamaTinyModel writes a testmodel of the given type with a trained byte-level
// BPE tokenizer (merges and an end-of-text token), the vocabulary padded
// to a multiple of 8 as checkpoints often are.
func llamaTinyModel(spec testmodel.Spec) func(t *testing.T) string {
	return func(t *testing.T) string {
		t.Helper()
		dir := t.TempDir()
		tok := tokenizer.TrainByteLevelBPE(llamaCorpus, 300, []string{"<|endoftext|>"})
		spec.Vocab = (tok.VocabSize() + 7) / 8 * 8
		if _, err := testmodel.Write(dir, spec); err != nil {
			t.Fatal(err)
		}
		if err := tok.WriteFile(dir); err != nil {
			t.Fatal(err)
		}
		return dir
	}
}

// llamaCases are the testdata reference models and tiny models of the
// other architectures. The reference Gemma 3 (testdata/peft-ref-models)
// is not among them: its layers alternate sliding and full attention and
// its query_pre_attn_scalar is not head_dim, which the pinned llama.cpp's
// gemma3 graph does not read from the file (it assumes five sliding layers
// in six and scales by head_dim^-½), so llama.cpp would compute another model
// (the exporter refuses it). The tiny Gemma 3 here has six layers, five sliding
// with a window of 8 (shorter than the sequences compared), and
// query_pre_attn_scalar = head_dim.
var llamaCases = []llamaCase{
	{"llama", llamaRefModel("peft-ref/model/llama")},
	{"gpt2", llamaRefModel("peft-ref/model/gpt2")},
	{"qwen3", llamaRefModel("peft-ref-models/model/qwen3")},
	{"mistral", llamaTinyModel(llamaTinySpec("mistral", nil))},
	{"qwen2", llamaTinyModel(llamaTinySpec("qwen2", nil))},
	{"gemma3", llamaTinyModel(func() testmodel.Spec {
		s := llamaTinySpec("gemma3_text", map[string]any{"sliding_window_pattern": 6, "query_pre_attn_scalar": 16})
		s.Layers, s.SlidingWindow, s.Tied = 6, 8, true
		return s
	}())},
}

func llamaTinySpec(modelType string, extra map[string]any) testmodel.Spec {
	return testmodel.Spec{ModelType: modelType, Hidden: 32, Heads: 4, KVHeads: 2, HeadDim: 16,
		Intermediate: 64, Layers: 2, Positions: 128, Seed: 11, Extra: extra}
}

// llamaReference loads dir as llama.cpp computes it: GPT-2's and Gemma 3's
// tanh GELU as nn.GELUTanhF16, the f16 table ggml's CPU backend evaluates
// it through even in an f32 model (ggml_table_gelu_f16; ggml defines
// GGML_GELU_FP16), every other computation orthotune's own. orthotune's
// model itself differs from it by the table's rounding (logged by
// TestLlamaCppAgrees), not by anything the export does. table reports
// whether the model computes that table.
func llamaReference(t *testing.T, dir string) (m model.CausalLM, table bool) {
	t.Helper()
	cfg, err := model.ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	modelType, err := cfg.String("model_type")
	if err != nil {
		t.Fatal(err)
	}
	w, err := model.OpenWeights(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	switch modelType {
	case "gpt2":
		c, err := gpt2.ParseConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if c.Activation != nn.GELUTanh {
			t.Fatalf("%s: activation %v, not the tanh GELU llama.cpp's gpt2 graph computes", dir, c.Activation)
		}
		c.Activation = nn.GELUTanhF16
		g, err := gpt2.New(c, w)
		if err != nil {
			t.Fatal(err)
		}
		return g, true
	case "gemma3_text":
		c, err := gemma3.ParseConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if c.GELU != nn.GELUTanh {
			t.Fatalf("%s: activation %v, not the tanh GELU llama.cpp's gemma3 graph computes", dir, c.GELU)
		}
		c.GELU = nn.GELUTanhF16
		g, err := gemma3.New(c, w)
		if err != nil {
			t.Fatal(err)
		}
		return g, true
	}
	m, err = model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m, false
}

// llamaRoundingSensitivity is how far one rounding error in every weight
// moves the reference's logits: max |Δlogit| when each weight of
// llamaReference(dir) is scaled by 1 − u, 1 or 1 + u in a fixed pattern,
// u = 2⁻²⁴ the unit roundoff of float32.
func llamaRoundingSensitivity(t *testing.T, dir string, ids []int, want [][]float32) float64 {
	t.Helper()
	m, _ := llamaReference(t, dir)
	x := uint32(7)
	for _, p := range m.Params() {
		for i := range p.W.Data {
			x = x*1664525 + 1013904223
			p.W.Data[i] *= 1 + float32(int(x>>30)%3-1)*0x1p-24
		}
	}
	d, _ := llamaCompareLogits(t, llamaForward(t, m, ids), want)
	return d
}

// llamaExport exports dir (with adapterDir merged, if set) as typ and loads
// the file with llama.cpp.
func llamaExport(t *testing.T, lib *llamacpp.Library, dir, adapterDir string, typ gguf.TensorType) *llamacpp.Model {
	t.Helper()
	out := filepath.Join(t.TempDir(), "model.gguf")
	res, err := export.GGUF(export.GGUFOptions{ModelDir: dir, AdapterDir: adapterDir, Out: out, Type: typ})
	if err != nil {
		t.Fatalf("export %s as %v: %v", dir, typ, err)
	}
	m, err := lib.LoadModel(res.Path)
	if err != nil {
		t.Fatalf("llama.cpp loading the export of %s as %v: %v", dir, typ, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// llamaTestIDs is a fixed sequence of n token ids below vocab, every id class
// (low, high, repeated) represented.
func llamaTestIDs(n, vocab int) []int {
	ids := make([]int, n)
	x := uint32(12345)
	for i := range ids {
		x = x*1664525 + 1013904223
		ids[i] = int(x>>8) % vocab
	}
	ids[n/2] = ids[1] // a repeat
	ids[n-1] = vocab - 1
	return ids
}

// llamaForward is orthotune's logits for one sequence, [seq][vocab].
func llamaForward(t *testing.T, m model.CausalLM, ids []int) [][]float32 {
	t.Helper()
	logits, err := m.Forward([][]int{ids})
	if err != nil {
		t.Fatal(err)
	}
	v := logits.Shape[2]
	rows := make([][]float32, len(ids))
	for i := range rows {
		rows[i] = logits.Data[i*v : (i+1)*v]
	}
	return rows
}

// llamaCompareLogits returns the largest |got − want| and the logits' scale,
// max |want|, over every position and token; got may be longer (llama.cpp
// pads nothing, but a vocabulary padded in the checkpoint is the same on
// both sides).
func llamaCompareLogits(t *testing.T, got, want [][]float32) (maxDiff, scale float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("llama.cpp gave %d rows of logits, orthotune %d", len(got), len(want))
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("position %d: llama.cpp gave %d logits, orthotune %d", i, len(got[i]), len(want[i]))
		}
		for v, w := range want[i] {
			maxDiff = max(maxDiff, math.Abs(float64(got[i][v])-float64(w)))
			scale = max(scale, math.Abs(float64(w)))
		}
	}
	return maxDiff, scale
}

// llamaRoundWeights rounds, in place, every weight the exporter writes in typ
// to typ and back, so that m computes with the exported values: the 2-D
// weights but GPT-2's position embedding (kept F32); for Q8_0, blocks run
// along the rows llama.cpp stores (the input dimension; GPT-2's Conv1D
// weights are [in, out] and are transposed by the exporter), and a weight
// whose rows are not whole blocks is F16, as the exporter writes it.
func llamaRoundWeights(t *testing.T, m model.CausalLM, typ gguf.TensorType) {
	t.Helper()
	conv := m.Info().ModelType == "gpt2"
	for _, p := range m.Params() {
		if len(p.W.Shape) != 2 || strings.Contains(p.Name, "wpe") {
			continue
		}
		rows, cols := p.W.Shape[0], p.W.Shape[1]
		data := p.W.Data
		transposed := conv && (strings.Contains(p.Name, ".c_attn.") || strings.Contains(p.Name, ".c_fc.") || strings.Contains(p.Name, ".c_proj."))
		if transposed {
			data = llamaTranspose(data, rows, cols)
			rows, cols = cols, rows
		}
		wt := typ
		if typ == gguf.Q8_0 && cols%gguf.QK8_0 != 0 {
			wt = gguf.F16
		}
		enc, err := gguf.Encode(nil, wt, data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gguf.Decode(data[:0], wt, enc, len(data)); err != nil {
			t.Fatal(err)
		}
		if transposed {
			copy(p.W.Data, llamaTranspose(data, rows, cols))
		}
	}
}

func llamaTranspose(x []float32, rows, cols int) []float32 {
	y := make([]float32, len(x))
	for i := range rows {
		for j := range cols {
			y[j*rows+i] = x[i*cols+j]
		}
	}
	return y
}

// TestLlamaCppAgrees exports every architecture at every type and checks
// llama.cpp against orthotune on the same weights. The bounds:
//   - tokenisation of llamaTexts, with and without the special tokens the
//     tokenizer adds, is the same ids;
//   - f32: the logits of 40 token ids match at every position within 1e-4
//     of the logits' scale (max |logit|), and greedy continuations of 20
//     tokens are identical. orthotune's side is llamaReference: for GPT-2
//     and Gemma 3 with llama.cpp's f16-table GELU, which alone moves
//     orthotune's logits by more than that (about 4e-4 of the scale here,
//     logged); that difference is ggml's arithmetic, not the file;
//   - f16, bf16 and q8_0: the file rounds the weights (f16, bf16: to
//     nearest, unit roundoff 2⁻¹¹, 2⁻⁸; q8_0: to 8 bits in blocks of 32),
//     and ggml's CPU backend rounds each product's activations to the
//     weights' type (q8_0: to q8_0 blocks) as well, a second perturbation of
//     the same relative size on every product. The difference from
//     orthotune is therefore bounded by Δw = max|orthotune(round(W)) −
//     orthotune(W)|, the measured effect of rounding the weights alone,
//     taken three times (weights, activations, and their interaction across
//     layers), plus the f32 bound;
//   - q8_0: the same arg-max as orthotune at ≥ 99% of positions, on each
//     model after full fine-tuning on labelled lines of the tokenizer's
//     corpus (llamaTrain), at every position of those lines from the label on. On the random weights the top two
//     logits are often closer than q8_0's error, so there the agreement is
//     only logged.
//
// The measured differences are logged.
func TestLlamaCppAgrees(t *testing.T) {
	lib := llamacpptest.Library(t)
	for _, tc := range llamaCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			tok, err := tokenizer.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			ref, table := llamaReference(t, dir)
			vocab := ref.Info().Vocab
			ids := llamaTestIDs(40, vocab)
			want := llamaForward(t, ref, ids)
			// Δw for each rounded type: orthotune on the rounded weights.
			dw := map[gguf.TensorType]float64{}
			for _, typ := range []gguf.TensorType{gguf.F16, gguf.BF16, gguf.Q8_0} {
				rounded, _ := llamaReference(t, dir)
				llamaRoundWeights(t, rounded, typ)
				dw[typ], _ = llamaCompareLogits(t, llamaForward(t, rounded, ids), want)
			}

			for _, typ := range []gguf.TensorType{gguf.F32, gguf.F16, gguf.BF16, gguf.Q8_0} {
				t.Run(typ.String(), func(t *testing.T) {
					m := llamaExport(t, lib, dir, "", typ)
					if m.VocabSize() != vocab {
						t.Fatalf("llama.cpp has %d tokens, the model %d", m.VocabSize(), vocab)
					}
					got := llamaMustLogits(t, m, ids)
					maxDiff, scale := llamaCompareLogits(t, got, want)
					f32Bound, why := 1e-4*scale, "1e-4×scale"
					if table {
						// One rounding anywhere before the table can move
						// its input across an f16 rounding boundary, a jump
						// of 2⁻¹¹ in the activation: llama.cpp's float32
						// arithmetic, in another order than orthotune's,
						// is only determined to within that.
						s := llamaRoundingSensitivity(t, dir, ids, want)
						f32Bound += 2 * s
						why += fmt.Sprintf(" + twice the rounding sensitivity %.3g", s)
					}
					if typ == gguf.F32 {
						llamaCheckTokenizer(t, m, tok)
						own, err := model.Load(dir)
						if err != nil {
							t.Fatal(err)
						}
						ownGELU := ""
						if table {
							ownDiff, _ := llamaCompareLogits(t, got, llamaForward(t, own, ids))
							ownGELU = fmt.Sprintf("; %.3g from orthotune's own GELU", ownDiff/scale)
						}
						t.Logf("%s f32: max |Δlogit| = %.3g, max |logit| = %.3g (relative %.3g%s); bound %s = %.3g", tc.name, maxDiff, scale, maxDiff/scale, ownGELU, why, f32Bound)
						if maxDiff > f32Bound {
							t.Errorf("max |Δlogit| = %.3g > %.3g", maxDiff, f32Bound)
						}
						llamaCheckGreedy(t, m, ref, ids[:12], 20)
						return
					}
					bound := 3*dw[typ] + f32Bound
					t.Logf("%s %v: max |Δlogit| = %.3g, max |logit| = %.3g (relative %.3g); rounding the weights alone moves orthotune's by Δw = %.3g; bound 3Δw + %s = %.3g", tc.name, typ, maxDiff, scale, maxDiff/scale, dw[typ], why, bound)
					if maxDiff > bound {
						t.Errorf("max |Δlogit| = %.3g > %.3g", maxDiff, bound)
					}
					if typ == gguf.Q8_0 {
						same := llamaSameArgmax(got, want)
						t.Logf("%s q8_0, random weights: same arg-max at %d of %d positions (%.1f%%)", tc.name, same, len(want), 100*float64(same)/float64(len(want)))
					}
				})
			}

			t.Run("q8_0 trained", func(t *testing.T) {
				trained := llamaTrain(t, dir)
				m := llamaExport(t, lib, trained, "", gguf.Q8_0)
				ref, _ := llamaReference(t, trained)
				same, positions := 0, 0
				for _, text := range llamaTrainTexts {
					// From the label on: the predictions made before it
					// (after a BOS token, if the tokenizer adds one) are
					// the one place where the text leaves the answer open.
					ids := tok.EncodeSpecial(text)
					label := len(tok.EncodeSpecial(text[:strings.IndexByte(text, ' ')]))
					got, want := llamaMustLogits(t, m, ids), llamaForward(t, ref, ids)
					same += llamaSameArgmax(got[label-1:], want[label-1:])
					positions += len(ids) - label + 1
				}
				frac := float64(same) / float64(positions)
				t.Logf("%s q8_0, fine-tuned: same arg-max at %d of %d positions (%.2f%%)", tc.name, same, positions, 100*frac)
				if frac < 0.99 {
					t.Errorf("same arg-max at %.2f%% of positions, want ≥ 99%%", 100*frac)
				}
			})
		})
	}
}

// llamaTrainTexts are what llamaTrain teaches the models: llamaCorpus, each
// line led by its own label, so that every next token after the label follows
// from the text before it. (Unlabelled lines start alike — "the cat",
// "the quick" — and leave true ties, which no model resolves.)
var llamaTrainTexts = func() []string {
	out := make([]string, len(llamaCorpus))
	for i, line := range llamaCorpus {
		out[i] = fmt.Sprintf("%d %s", i+1, line)
	}
	return out
}()

// llamaTrain fine-tunes every weight of the model in dir on llamaCorpus
// and returns the trained model's directory, the tokenizer's files copied
// beside it: a model whose next-token predictions on that text are
// confident, as a trained model's are and random weights' are not.
func llamaTrain(t *testing.T, dir string) string {
	t.Helper()
	var records []byte
	for _, text := range llamaTrainTexts {
		rec, err := json.Marshal(map[string]string{"text": text})
		if err != nil {
			t.Fatal(err)
		}
		records = append(append(records, rec...), '\n')
	}
	dataPath := filepath.Join(t.TempDir(), "corpus.jsonl")
	if err := os.WriteFile(dataPath, records, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "full")
	job := finetune.NewJob(dir, dataPath, out)
	job.Adapter, job.MaxSeqLength, job.ValidationSplit, job.Report = nil, 64, 0, nil
	c := &job.Training
	c.LearningRate, c.MaxSteps, c.WarmupSteps, c.BatchSize, c.Seed = 1e-2, 150, 0, len(llamaTrainTexts), 3
	if _, err := finetune.Run(context.Background(), job); err != nil {
		t.Fatalf("fine-tuning %s: %v", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || llamaFileExists(filepath.Join(out, e.Name())) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func llamaSameArgmax(got, want [][]float32) int {
	same := 0
	for i := range want {
		if tensor.Argmax(got[i]) == tensor.Argmax(want[i]) {
			same++
		}
	}
	return same
}

// llamaCheckTokenizer compares llama.cpp's tokenisation of llamaTexts with
// orthotune's, without special tokens (Hugging Face's
// add_special_tokens=False) and with them.
func llamaCheckTokenizer(t *testing.T, m *llamacpp.Model, tok *tokenizer.Tokenizer) {
	t.Helper()
	for _, text := range llamaTexts {
		for _, special := range []bool{false, true} {
			got, err := m.Tokenize(text, special, true)
			if err != nil {
				t.Fatal(err)
			}
			want := tok.Encode(text)
			if special {
				want = tok.EncodeSpecial(text)
			}
			if !slices.Equal(got, want) {
				t.Errorf("tokenising %q (special tokens %v): llama.cpp %v, orthotune %v", text, special, got, want)
			}
		}
	}
}

// llamaCheckGreedy compares n greedy tokens after prompt.
func llamaCheckGreedy(t *testing.T, m *llamacpp.Model, ref model.CausalLM, prompt []int, n int) {
	t.Helper()
	dec, ok := ref.(model.Decoder)
	if !ok {
		t.Fatalf("%s cannot generate", ref.Info().ModelType)
	}
	want, err := generate.Generate(dec, prompt, generate.Options{MaxNewTokens: n})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Greedy(prompt, n)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		// Say how close orthotune's choice was where they part: a near-tie
		// within the f32 bound would point at the bound, not the export.
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		row := llamaForward(t, ref, append(slices.Clone(prompt), want[:i]...))
		last := row[len(row)-1]
		margin := float64(last[tensor.Argmax(last)])
		if i < len(got) {
			margin -= float64(last[got[i]])
		}
		t.Errorf("greedy continuation of %v: llama.cpp %v, orthotune %v; at new token %d orthotune's logit margin over llama.cpp's choice is %.3g", prompt, got, want, i, margin)
	}
}

// TestLlamaCppAgreesAfterFinetune is issue 18's "a fine-tuned adapter's
// effect survives export": the demo's base model with an OFT adapter
// trained on the demo's colour task, exported with the adapter merged
// (f32), answers every held-out prompt in llama.cpp exactly as orthotune's
// greedy generation through the (unmerged) adapter does; its logits match
// within the f32 bound; and exported as q8_0 it has the same arg-max at
// ≥ 99% of positions.
func TestLlamaCppAgreesAfterFinetune(t *testing.T) {
	lib := llamacpptest.Library(t)
	if testing.Short() {
		t.Skip("pretrains the demo's base model (about half a minute)")
	}
	ctx := context.Background()
	data, err := demo.Prepare(ctx, demo.Options{CacheDir: t.TempDir(), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	method, ok := peft.LookupMethod("oft")
	if !ok {
		t.Fatal("the oft method is not registered")
	}
	cfg := method.TrainingConfig()
	cfg.Base().TargetModules = peft.Pattern(peft.AllLinear)
	adapterDir := filepath.Join(t.TempDir(), "oft")
	job := finetune.NewJob(data.BaseDir, data.TaskTrain, adapterDir)
	job.Adapter, job.MaxSeqLength, job.Report = cfg, 64, nil
	c := &job.Training
	c.LearningRate, c.MaxSteps, c.WarmupSteps, c.LRSchedulerType, c.BatchSize, c.Seed = 5e-3, 60, 6, train.Cosine, 8, 7
	if _, err := finetune.Run(ctx, job); err != nil {
		t.Fatal(err)
	}

	m := llamaExport(t, lib, data.BaseDir, adapterDir, gguf.F32)
	base, err := model.Load(data.BaseDir)
	if err != nil {
		t.Fatal(err)
	}
	tuned, err := finetune.LoadForInference(data.BaseDir, adapterDir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := finetune.LoadTokenizer(data.BaseDir, base.Info().Vocab)
	if err != nil {
		t.Fatal(err)
	}
	var stops []int
	if id, ok := tok.EOS(); ok {
		stops = append(stops, id)
	}
	answer := func(m model.CausalLM, prompt []int) []int {
		out, err := generate.Generate(m.(model.Decoder), prompt, generate.Options{MaxNewTokens: 6, StopIDs: stops})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	changed, right := 0, 0
	var maxDiff, scale float64
	for _, f := range demo.Facts() {
		prompt := demo.Prompt(len(demo.Prefixes)-1, f.Object)
		ids := tok.EncodeSpecial(prompt)
		if got, err := m.Tokenize(prompt, true, true); err != nil || !slices.Equal(got, ids) {
			t.Errorf("tokenising %q: llama.cpp %v (%v), orthotune %v", prompt, got, err, ids)
		}
		want := answer(tuned, ids)
		got, err := m.Greedy(ids, 6)
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(got, func(id int) bool { return slices.Contains(stops, id) }); i >= 0 {
			got = got[:i+1] // generate stops after the stop id
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q: llama.cpp answers %q %v, orthotune through the adapter %q %v", prompt, tok.Decode(got, true), got, tok.Decode(want, true), want)
		}
		if !slices.Equal(answer(base, ids), want) {
			changed++
		}
		if strings.HasPrefix(tok.Decode(got, true), " "+f.Color) {
			right++
		}
		d, s := llamaCompareLogits(t, llamaMustLogits(t, m, ids), llamaForward(t, tuned, ids))
		maxDiff, scale = max(maxDiff, d), max(scale, s)
	}
	t.Logf("demo + OFT (merged, f32): %d of %d answers differ from the base model's, %d right; max |Δlogit| = %.3g, max |logit| = %.3g (relative %.3g)", changed, len(demo.Facts()), right, maxDiff, scale, maxDiff/scale)
	if changed == 0 {
		t.Error("the adapter changed none of the base model's answers: the test shows nothing")
	}
	if maxDiff > 1e-4*scale {
		t.Errorf("max |Δlogit| = %.3g > 1e-4 × %.3g", maxDiff, scale)
	}

	// q8_0 on a trained model: the same arg-max as orthotune through the
	// adapter at ≥ 99% of the positions of the task's evaluation records
	// (prompt and answer) and of corpus text.
	q8 := llamaExport(t, lib, data.BaseDir, adapterDir, gguf.Q8_0)
	_, evalSet := demo.Task(1)
	texts := demo.Corpus(20, 99)
	for _, r := range evalSet {
		texts = append(texts, r.Prompt+r.Completion)
	}
	same, positions := 0, 0
	for _, text := range texts {
		ids := tok.EncodeSpecial(text)
		got, want := llamaMustLogits(t, q8, ids), llamaForward(t, tuned, ids)
		same += llamaSameArgmax(got, want)
		positions += len(ids)
	}
	frac := float64(same) / float64(positions)
	t.Logf("demo + OFT (merged, q8_0): same arg-max as orthotune at %d of %d positions (%.2f%%)", same, positions, 100*frac)
	if frac < 0.99 {
		t.Errorf("q8_0: same arg-max at %.2f%% of positions, want ≥ 99%%", 100*frac)
	}
}

func llamaMustLogits(t *testing.T, m *llamacpp.Model, ids []int) [][]float32 {
	t.Helper()
	got, err := m.Logits(ids)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// llamaTokenizerReference is the part of tokenizer/testdata/*/reference.json.gz
// read here: texts and the ids Hugging Face's tokenizers gave them.
type llamaTokenizerReference struct {
	Cases []struct {
		Text       string `json:"text"`
		IDs        []int  `json:"ids"`
		IDsSpecial []int  `json:"ids_special"`
	} `json:"cases"`
}

// Known differences of the pinned llama.cpp from Hugging Face's tokenizers,
// in llama.cpp's own tokeniser, which no exported file can change:
//   - nfc: Qwen2's tokenizer.json has an NFC normalizer, which llama.cpp
//     does not apply: a text that NFC changes (decomposed accents, Hangul
//     jamo, …) is tokenised from its unnormalised bytes;
//   - space: llama.cpp's byte-level pre-tokenizers class U+0085 (NEL) as
//     whitespace and U+FEFF (BOM) as not, where Hugging Face's regex does
//     the reverse, so the text around them is split differently;
//   - eog: llama.cpp makes a token spelled like an end-of-generation marker
//     ("</s>", "<|im_end|>", …) a control token whatever type the file gives
//     it ("control-looking token … its type will be overridden"), so with
//     special tokens parsed it matches Qwen2's ordinary vocabulary token
//     "</s>" in text, which Hugging Face splits by its merges.
//
// A reference text subject to one of its tokenizer's known differences is
// counted and logged, not compared.
func llamaKnownDifference(text string, nfc, space bool, eog []string) string {
	switch {
	case nfc && !norm.NFC.IsNormalString(text):
		return "nfc"
	case space && strings.ContainsAny(text, "\u0085\ufeff"):
		return "space"
	case slices.ContainsFunc(eog, func(s string) bool { return strings.Contains(text, s) }):
		return "eog"
	}
	return ""
}

// TestLlamaCppTokenizers exports tiny models carrying real tokenizers (the
// checked-in GPT-2, Mistral, Qwen2.5 and Qwen3 ones, and Gemma 3's from
// npm where ORTHOTUNE_GEMMA3_TOKENIZER names it) and checks llama.cpp's
// tokenisation of every text of the tokenizer's reference file (442 to 469
// texts: whitespace runs, punctuation, digits, scripts, emoji, special
// tokens spelled out) against the ids Hugging Face gave, without and with
// special tokens. Texts subject to a llamaKnownDifference are left out, and
// their number logged.
func TestLlamaCppTokenizers(t *testing.T) {
	lib := llamacpptest.Library(t)
	for _, tc := range []struct {
		name, modelType, src string
		nfc, space           bool     // the knownDifferences that apply
		eog                  []string // ordinary tokens llama.cpp makes control ones
	}{
		{"gpt2", "gpt2", "gpt2", false, true, nil},
		{"mistral", "mistral", "mistral", false, false, nil},
		{"qwen2.5", "qwen2", "qwen2.5", true, true, []string{"</s>"}},
		{"qwen3", "qwen3", "qwen3", true, true, []string{"</s>"}},
		{"gemma3", "gemma3_text", "", false, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			td := filepath.Join("..", "tokenizer", "testdata", tc.src)
			if tc.src == "" {
				testref.Gemma3Tokenizer(t, dir)
				td = filepath.Join("..", "tokenizer", "testdata", "gemma3")
			} else {
				testref.CopyMaybeGz(t, filepath.Join(td, "tokenizer.json"), filepath.Join(dir, "tokenizer.json"))
				if _, err := os.Stat(filepath.Join(td, "tokenizer_config.json")); err == nil {
					testref.CopyMaybeGz(t, filepath.Join(td, "tokenizer_config.json"), filepath.Join(dir, "tokenizer_config.json"))
				}
			}
			tok, err := tokenizer.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			spec := testmodel.Spec{ModelType: tc.modelType, Hidden: 32, Heads: 2, Intermediate: 32, Layers: 1, Vocab: tok.VocabSize(), Positions: 64, Seed: 3}
			if tc.modelType == "gemma3_text" { // as llama.cpp's gemma3 graph computes (see export's refusal)
				spec.HeadDim, spec.Extra = 16, map[string]any{"sliding_window_pattern": 6, "query_pre_attn_scalar": 16}
			}
			if _, err := testmodel.Write(dir, spec); err != nil {
				t.Fatal(err)
			}
			m := llamaExport(t, lib, dir, "", gguf.Q8_0)
			raw, err := testref.ReadMaybeGz(filepath.Join(td, "reference.json"))
			if err != nil {
				t.Fatal(err)
			}
			var ref llamaTokenizerReference
			if err := json.Unmarshal(raw, &ref); err != nil {
				t.Fatal(err)
			}
			bad, compared := 0, 0
			known := map[string]int{}
			for _, c := range ref.Cases {
				if why := llamaKnownDifference(c.Text, tc.nfc, tc.space, tc.eog); why != "" {
					known[why]++
					continue
				}
				compared++
				for _, special := range []bool{false, true} {
					want := c.IDs
					if special {
						want = c.IDsSpecial
					}
					got, err := m.Tokenize(c.Text, special, true)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, want) {
						bad++
						if bad <= 10 {
							t.Errorf("%q (special tokens %v): llama.cpp %v, Hugging Face %v", c.Text, special, got, want)
						}
					}
				}
			}
			t.Logf("%s: %d texts compared without and with special tokens, %d tokenisations differ; left out for llama.cpp's known differences: %v", tc.name, compared, bad, known)
			if compared < len(ref.Cases)*3/4 {
				t.Errorf("only %d of %d texts compared", compared, len(ref.Cases))
			}
		})
	}
}

func llamaFileExists(path string) bool { _, err := os.Stat(path); return err == nil }
