//go:build linux && amd64

package llamacpp_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/orthotune/orthotune/gguf"
	"github.com/orthotune/orthotune/internal/llamacpp"
	"github.com/orthotune/orthotune/internal/llamacpp/llamacpptest"
)

// tinyModel is a one-block Llama whose attention and feed-forward weights
// are zero, so that the residual stream stays the token's embedding and
// the logits after a token are output · (RMSNorm(embedding) ⊙ g), whatever
// the position: a model whose every output this test computes by hand.
// Its vocabulary is a SentencePiece-style one (tokenizer.ggml.model
// "llama"): <unk>, <s>, </s>, the 256 byte tokens and the prefixes of a
// few words, so that llama.cpp's tokenisation is known too.
type tinyModel struct {
	tokens   []string
	embd     [][]float32 // [vocab][dim]
	norm     []float32   // [dim]
	output   [][]float32 // [vocab][dim]
	eps      float32
	wordPfx  map[string]int // "▁hello" → id
	dim, ffn int
}

const (
	tinyBOS = 1
	tinyEOS = 2
)

func newTinyModel(seed uint64) *tinyModel {
	m := &tinyModel{dim: 32, ffn: 64, eps: 1e-5, wordPfx: map[string]int{}}
	m.tokens = []string{"<unk>", "<s>", "</s>"}
	for b := range 256 {
		m.tokens = append(m.tokens, fmt.Sprintf("<0x%02X>", b))
	}
	for _, w := range []string{"▁hello", "▁world", "▁hi"} {
		r := []rune(w)
		for i := 2; i <= len(r); i++ {
			p := string(r[:i])
			if _, ok := m.wordPfx[p]; !ok {
				m.wordPfx[p] = len(m.tokens)
				m.tokens = append(m.tokens, p)
			}
		}
	}
	for _, c := range []string{"▁", "h", "e", "l", "o", "w", "r", "d"} {
		m.wordPfx[c] = len(m.tokens)
		m.tokens = append(m.tokens, c)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	mat := func(rows, cols int, scale float64) [][]float32 {
		x := make([][]float32, rows)
		for i := range x {
			x[i] = make([]float32, cols)
			for j := range x[i] {
				x[i][j] = float32(rng.NormFloat64() * scale)
			}
		}
		return x
	}
	m.embd = mat(len(m.tokens), m.dim, 1)
	m.output = mat(len(m.tokens), m.dim, 0.5)
	m.norm = mat(1, m.dim, 0.1)[0]
	for i := range m.norm {
		m.norm[i]++
	}
	return m
}

// logits is what the model computes after token id, in float64.
func (m *tinyModel) logits(id int) []float64 {
	return m.heads(id, func(x float64) float64 { return x })
}

// absTerms is Σ_j |output[v][j]|·|x_j| for every v, x the normed
// embedding of id: the sum the rounding errors of the dot products scale
// with.
func (m *tinyModel) absTerms(id int) []float64 { return m.heads(id, math.Abs) }

// heads is Σ_j term(output[v][j]·x_j) for every v, x the RMS-normed
// embedding of id (with its norm weight), in float64.
func (m *tinyModel) heads(id int, term func(float64) float64) []float64 {
	h := m.embd[id]
	var ss float64
	for _, v := range h {
		ss += float64(v) * float64(v)
	}
	inv := 1 / math.Sqrt(ss/float64(len(h))+float64(m.eps))
	out := make([]float64, len(m.tokens))
	for v, row := range m.output {
		for j, w := range row {
			out[v] += term(float64(w) * float64(h[j]) * inv * float64(m.norm[j]))
		}
	}
	return out
}

// write writes the model as a GGUF file with the given type for its 2-D
// tensors.
func (m *tinyModel) write(t *testing.T, path string, typ gguf.TensorType) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := gguf.NewWriter(f)
	n := len(m.tokens)
	scores := make([]float32, n)
	types := make([]int32, n)
	for i, tok := range m.tokens {
		switch {
		case i == 0:
			types[i] = 2 // unknown
		case i <= 2:
			types[i] = 3 // control
		case i < 3+256:
			types[i] = 6 // byte
		default:
			types[i] = 1                                   // normal
			scores[i] = -float32(len([]rune(tok))) * 0.001 // any order: the prefixes chain
		}
	}
	kvs := []struct {
		k string
		v any
	}{
		{"general.architecture", "llama"},
		{"general.name", "tiny"},
		{"llama.context_length", uint32(512)},
		{"llama.embedding_length", uint32(m.dim)},
		{"llama.block_count", uint32(1)},
		{"llama.feed_forward_length", uint32(m.ffn)},
		{"llama.attention.head_count", uint32(2)},
		{"llama.attention.head_count_kv", uint32(2)},
		{"llama.rope.dimension_count", uint32(m.dim / 2)},
		{"llama.attention.layer_norm_rms_epsilon", m.eps},
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", m.tokens},
		{"tokenizer.ggml.scores", scores},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.bos_token_id", uint32(tinyBOS)},
		{"tokenizer.ggml.eos_token_id", uint32(tinyEOS)},
		{"tokenizer.ggml.unknown_token_id", uint32(0)},
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.add_eos_token", false},
	}
	for _, kv := range kvs {
		if err := w.AddKV(kv.k, kv.v); err != nil {
			t.Fatal(err)
		}
	}
	flat := func(x [][]float32) []float32 { return slices.Concat(x...) }
	zeros := func(n int) []float32 { return make([]float32, n) }
	tensors := []struct {
		name string
		typ  gguf.TensorType
		dims []int
		data []float32
	}{
		{"token_embd.weight", typ, []int{m.dim, n}, flat(m.embd)},
		{"output_norm.weight", gguf.F32, []int{m.dim}, m.norm},
		{"output.weight", typ, []int{m.dim, n}, flat(m.output)},
		{"blk.0.attn_norm.weight", gguf.F32, []int{m.dim}, m.norm},
		{"blk.0.attn_q.weight", typ, []int{m.dim, m.dim}, zeros(m.dim * m.dim)},
		{"blk.0.attn_k.weight", typ, []int{m.dim, m.dim}, zeros(m.dim * m.dim)},
		{"blk.0.attn_v.weight", typ, []int{m.dim, m.dim}, zeros(m.dim * m.dim)},
		{"blk.0.attn_output.weight", typ, []int{m.dim, m.dim}, zeros(m.dim * m.dim)},
		{"blk.0.ffn_norm.weight", gguf.F32, []int{m.dim}, m.norm},
		{"blk.0.ffn_gate.weight", typ, []int{m.dim, m.ffn}, zeros(m.dim * m.ffn)},
		{"blk.0.ffn_up.weight", typ, []int{m.dim, m.ffn}, zeros(m.dim * m.ffn)},
		{"blk.0.ffn_down.weight", typ, []int{m.ffn, m.dim}, zeros(m.dim * m.ffn)},
	}
	for _, ts := range tensors {
		if err := w.AddTensor(ts.name, ts.typ, ts.dims...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	for _, ts := range tensors {
		if err := w.WriteTensor(ts.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func loadTiny(t *testing.T, typ gguf.TensorType) (*tinyModel, *llamacpp.Model) {
	t.Helper()
	lib := llamacpptest.Library(t)
	tm := newTinyModel(7)
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	tm.write(t, path, typ)
	m, err := lib.LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return tm, m
}

func TestModelVocab(t *testing.T) {
	tm, m := loadTiny(t, gguf.F32)
	if m.VocabSize() != len(tm.tokens) || m.BOS() != tinyBOS || m.EOS() != tinyEOS || !m.AddBOS() || m.AddEOS() || !m.IsEOG(tinyEOS) || m.IsEOG(5) {
		t.Errorf("vocab %d, bos %d, eos %d, add bos %v, add eos %v, eog(eos) %v, eog(5) %v; want %d, %d, %d, true, false, true, false",
			m.VocabSize(), m.BOS(), m.EOS(), m.AddBOS(), m.AddEOS(), m.IsEOG(tinyEOS), m.IsEOG(5), len(tm.tokens), tinyBOS, tinyEOS)
	}
	if arch, ok := m.Meta("general.architecture"); !ok || arch != "llama" {
		t.Errorf("Meta(general.architecture) = %q, %v", arch, ok)
	}
	if _, ok := m.Meta("no.such.key"); ok {
		t.Error("Meta(no.such.key) exists")
	}
	if nCtx, nEmbd, nLayer := m.Shape(); nCtx != 512 || nEmbd != tm.dim || nLayer != 1 {
		t.Errorf("Shape = %d, %d, %d; want 512, %d, 1", nCtx, nEmbd, nLayer, tm.dim)
	}
	p := tm.wordPfx
	byteTok := func(b byte) int { return 3 + int(b) }
	for _, tc := range []struct {
		text         string
		addSpecial   bool
		parseSpecial bool
		want         []int
	}{
		{"hello world", true, false, []int{tinyBOS, p["▁hello"], p["▁world"]}},
		{"hello world", false, false, []int{p["▁hello"], p["▁world"]}},
		{"hi!", true, false, []int{tinyBOS, p["▁hi"], byteTok('!')}},
		{"hell", false, false, []int{p["▁hell"]}},
		{"</s>", false, true, []int{tinyEOS}},
		{"", false, false, []int{}},
	} {
		got, err := m.Tokenize(tc.text, tc.addSpecial, tc.parseSpecial)
		if err != nil {
			t.Errorf("Tokenize(%q): %v", tc.text, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Tokenize(%q, %v, %v) = %v, want %v", tc.text, tc.addSpecial, tc.parseSpecial, got, tc.want)
		}
	}
	if s, err := m.Piece(p["▁world"]); err != nil || s != " world" {
		t.Errorf("Piece(▁world) = %q, %v; want \" world\"", s, err)
	}
}

// TestModelLogits checks every row Logits returns against the hand
// computation, and Greedy against the arg-max chain it implies, for the
// tensor types the exporter writes. The bounds are per logit:
//   - f32 is computed in f32 throughout: 1e-5 of the logits' scale (max
//     |logit|) covers the f32 sums of 32 terms with room to spare;
//   - f16 and bf16 round the weights, and ggml's CPU backend rounds the
//     activations to the weights' type before the product, each to nearest
//     with unit roundoff u (2⁻¹¹ for f16, 2⁻⁸ for bf16): each term w·x of
//     the dot product is off by at most (2u+u²)|w||x|, so a logit by at most
//     (2u+u²)·Σ|w||x|, plus the f32 slack;
//   - q8_0 quantises weights and activations to 8 bits in blocks of 32
//     (scale max|block|/127, each value off by at most half a step): the
//     test allows 0.05 of the logits' scale and asks for the same arg-max
//     at every position.
func TestModelLogits(t *testing.T) {
	for _, tc := range []struct {
		typ gguf.TensorType
		u   float64 // unit roundoff of the rounded types; 0 otherwise
	}{
		{gguf.F32, 0},
		{gguf.F16, math.Ldexp(1, -11)},
		{gguf.BF16, math.Ldexp(1, -8)},
		{gguf.Q8_0, 0},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			tm, m := loadTiny(t, tc.typ)
			ids := []int{tinyBOS, tm.wordPfx["▁hello"], 3 + 'x', tm.wordPfx["▁world"], tm.wordPfx["▁hello"], tinyEOS}
			got, err := m.Logits(ids)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(ids) {
				t.Fatalf("%d rows of logits for %d tokens", len(got), len(ids))
			}
			var scale float64
			for _, id := range ids {
				for _, v := range tm.logits(id) {
					scale = max(scale, math.Abs(v))
				}
			}
			var maxDiff, worst float64 // worst: the largest |Δ| / bound
			for i, id := range ids {
				want, abs := tm.logits(id), tm.absTerms(id)
				if len(got[i]) != len(want) {
					t.Fatalf("row %d has %d logits, want %d", i, len(got[i]), len(want))
				}
				for v := range want {
					var bound float64
					switch tc.typ {
					case gguf.F32:
						bound = 1e-5 * scale
					case gguf.Q8_0:
						bound = 0.05 * scale
					default:
						bound = (2*tc.u+tc.u*tc.u)*abs[v] + 1e-5*scale
					}
					d := math.Abs(float64(got[i][v]) - want[v])
					maxDiff = max(maxDiff, d)
					worst = max(worst, d/bound)
					if d > bound {
						t.Errorf("position %d, token %d: logit %g, want %g ± %.3g", i, v, got[i][v], want[v], bound)
					}
				}
				if tc.typ == gguf.Q8_0 {
					g := make([]float64, len(got[i]))
					for v, x := range got[i] {
						g[v] = float64(x)
					}
					if argmax(g) != argmax(want) {
						t.Errorf("position %d: arg-max %d, want %d", i, argmax(g), argmax(want))
					}
				}
			}
			t.Logf("%s: max |Δ| = %.3g, max |logit| = %.3g, relative %.3g; largest |Δ|/bound %.3g", tc.typ, maxDiff, scale, maxDiff/scale, worst)
			if tc.typ != gguf.F32 {
				return
			}
			const n = 12
			gen, err := m.Greedy(ids[:3], n)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]int, 0, n)
			for last := ids[2]; len(want) < n; {
				last = argmax(tm.logits(last))
				want = append(want, last)
			}
			if !slices.Equal(gen, want) {
				t.Errorf("Greedy = %v, want %v", gen, want)
			}
		})
	}
}

func argmax(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

func TestModelErrors(t *testing.T) {
	tm, m := loadTiny(t, gguf.F32)
	lib := llamacpptest.Library(t)
	for name, err := range map[string]error{
		"id out of range":  func() error { _, err := m.Logits([]int{len(tm.tokens)}); return err }(),
		"negative id":      func() error { _, err := m.Greedy([]int{-1}, 1); return err }(),
		"no tokens":        func() error { _, err := m.Logits(nil); return err }(),
		"past the context": func() error { _, err := m.Greedy(make([]int, 500), 13); return err }(),
		"missing file":     func() error { _, err := lib.LoadModel(filepath.Join(t.TempDir(), "none.gguf")); return err }(),
		"not a gguf": func() error {
			p := filepath.Join(t.TempDir(), "bad.gguf")
			if err := os.WriteFile(p, []byte("not a model"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := lib.LoadModel(p)
			return err
		}(),
		"another directory": func() error { _, err := llamacpp.Open(t.TempDir()); return err }(),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Logits([]int{1}); !errors.Is(err, llamacpp.ErrClosed) {
		t.Errorf("Logits after Close: %v, want ErrClosed", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
