package generate_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/generate"
	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/model"
	_ "github.com/orthotune/orthotune/model/gpt2"
	_ "github.com/orthotune/orthotune/model/llama"
	"github.com/orthotune/orthotune/tensor"
)

// fakeCache counts positions for fake.
type fakeCache struct{ n, maxLen, batch int }

func (c *fakeCache) Len() int    { return c.n }
func (c *fakeCache) MaxLen() int { return c.maxLen }
func (c *fakeCache) Batch() int  { return c.batch }
func (c *fakeCache) Reset()      { c.n = 0 }

// fake is a Decoder whose logits for the token after position pos come
// from next(pos); it records every token it is fed.
type fake struct {
	vocab, ctx int
	next       func(pos int) []float32
	fail       int // Step number (1-based) that fails; 0 = never
	steps      int
	fed        []int
}

func (f *fake) Info() model.Info { return model.Info{Vocab: f.vocab, MaxPositions: f.ctx} }

func (f *fake) NewCache(batch, maxLen int) model.Cache {
	return &fakeCache{maxLen: maxLen, batch: batch}
}

var errModel = errors.New("model broke")

func (f *fake) Step(ids [][]int, c model.Cache) (*tensor.Tensor, error) {
	f.steps++
	if f.steps == f.fail {
		return nil, errModel
	}
	fc := c.(*fakeCache)
	n := len(ids[0])
	if len(ids) != 1 || fc.batch != 1 {
		return nil, fmt.Errorf("fake: batch %d, cache batch %d", len(ids), fc.batch)
	}
	if fc.n+n > fc.maxLen {
		return nil, fmt.Errorf("fake: %d + %d positions: %w", fc.n, n, model.ErrCacheFull)
	}
	out := tensor.New(1, n, f.vocab)
	for t := range n {
		copy(out.Data[t*f.vocab:(t+1)*f.vocab], f.next(fc.n+t))
	}
	fc.n += n
	f.fed = append(f.fed, ids[0]...)
	return out, nil
}

// counting predicts token (pos+1) mod vocab after position pos: greedy
// output continues 0, 1, 2, … from the prompt's length.
func counting(vocab, ctx int) *fake {
	return &fake{vocab: vocab, ctx: ctx, next: func(pos int) []float32 {
		l := make([]float32, vocab)
		l[(pos+1)%vocab] = 5
		return l
	}}
}

func seq(lo, hi int) []int {
	var out []int
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// TestGenerateLoop: stop ids, MaxNewTokens, the model's context, and what
// the model is fed, on a decoder whose greedy output is known.
func TestGenerateLoop(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ctx      int
		prompt   []int
		opts     generate.Options
		want     []int
		wantFeed []int // every token the model ran on
	}{
		{"max new tokens", 0, []int{0, 1, 2}, generate.Options{MaxNewTokens: 4}, seq(3, 7), seq(0, 6)},
		{"stop id included and not fed", 0, []int{0, 1, 2}, generate.Options{MaxNewTokens: 10, StopIDs: []int{9, 6}}, seq(3, 7), seq(0, 6)},
		{"stop on the first token", 0, []int{0, 1}, generate.Options{MaxNewTokens: 10, StopIDs: []int{2}}, []int{2}, []int{0, 1}},
		{"stop ids never emitted", 0, []int{0}, generate.Options{MaxNewTokens: 3, StopIDs: []int{-1, 50}}, seq(1, 4), seq(0, 3)},
		{"one new token", 0, []int{0, 1, 2}, generate.Options{MaxNewTokens: 1}, []int{3}, seq(0, 3)},
		{"context stops generation", 8, seq(0, 5), generate.Options{MaxNewTokens: 10}, seq(5, 8), seq(0, 7)},
		{"prompt fills the context", 8, seq(0, 8), generate.Options{MaxNewTokens: 10}, []int{}, nil},
		{"max new tokens 0", 0, []int{0, 1}, generate.Options{MaxNewTokens: 0}, []int{}, nil},
		{"vocab wraps", 0, []int{30, 31}, generate.Options{MaxNewTokens: 3}, []int{2, 3, 4}, []int{30, 31, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := counting(32, tc.ctx)
			var streamed []int
			tc.opts.OnToken = func(id int) error {
				// The i-th id arrives after the model ran on the prompt
				// and the i ids before it, and before it runs on this one.
				if len(f.fed) != len(tc.prompt)+len(streamed) {
					return fmt.Errorf("new token %d streamed when the model had run on %d tokens", len(streamed), len(f.fed))
				}
				streamed = append(streamed, id)
				return nil
			}
			got, err := generate.Generate(f, tc.prompt, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil || !slices.Equal(got, tc.want) {
				t.Errorf("Generate = %v, want %v", got, tc.want)
			}
			if !slices.Equal(streamed, got) {
				t.Errorf("OnToken saw %v, Generate returned %v", streamed, got)
			}
			if !slices.Equal(f.fed, tc.wantFeed) {
				t.Errorf("model ran on %v, want %v", f.fed, tc.wantFeed)
			}
			if tc.wantFeed == nil && f.steps != 0 {
				t.Errorf("model stepped %d times for no new tokens", f.steps)
			}
		})
	}
}

// TestGenerateErrors: bad arguments are refused before the model runs; an
// OnToken or model error stops generation and comes back wrapped with the
// tokens generated so far.
func TestGenerateErrors(t *testing.T) {
	stop := errors.New("enough")
	for _, tc := range []struct {
		name    string
		ctx     int
		fail    int
		prompt  []int
		opts    generate.Options
		want    string
		is      error
		partial []int
	}{
		{"empty prompt", 0, 0, nil, generate.Options{MaxNewTokens: 2}, "prompt is empty", nil, nil},
		{"id past vocabulary", 0, 0, []int{1, 32}, generate.Options{MaxNewTokens: 2}, "input_ids[0][1] = 32", nil, nil},
		{"negative id, no tokens asked", 0, 0, []int{-3}, generate.Options{}, "input_ids[0][0] = -3", nil, nil},
		{"prompt longer than the context", 4, 0, seq(0, 5), generate.Options{MaxNewTokens: 2}, "more than the model's 4 positions", nil, nil},
		{"negative max new tokens", 0, 0, []int{1}, generate.Options{MaxNewTokens: -1}, "max new tokens -1", nil, nil},
		{"bad sampler", 0, 0, []int{1}, generate.Options{MaxNewTokens: 2, Sampler: generate.Sampler{Temperature: 1, TopP: 2}}, "top_p", nil, nil},
		{"OnToken error", 0, 0, []int{0}, generate.Options{MaxNewTokens: 9, OnToken: func(id int) error {
			if id == 3 {
				return stop
			}
			return nil
		}}, "OnToken(3) for new token 2", stop, []int{1, 2, 3}},
		{"model error on the prompt", 0, 1, []int{0}, generate.Options{MaxNewTokens: 5}, "prompt", errModel, []int{}},
		{"model error later", 0, 3, []int{0}, generate.Options{MaxNewTokens: 5}, "new token 2", errModel, []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := counting(32, tc.ctx)
			f.fail = tc.fail
			got, err := generate.Generate(f, tc.prompt, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
			if !slices.Equal(got, tc.partial) {
				t.Errorf("returned %v with the error, want %v", got, tc.partial)
			}
			if tc.is == nil && f.steps != 0 {
				t.Errorf("model ran %d steps on bad arguments", f.steps)
			}
		})
	}
	t.Run("all logits NaN", func(t *testing.T) {
		f := &fake{vocab: 4, next: func(pos int) []float32 {
			if pos >= 2 {
				return []float32{nan, nan, nan, nan}
			}
			return []float32{0, 1, 0, 0}
		}}
		got, err := generate.Generate(f, []int{0, 0}, generate.Options{MaxNewTokens: 4})
		if err == nil || !strings.Contains(err.Error(), "new token 1") || !slices.Equal(got, []int{1}) {
			t.Fatalf("Generate = %v, %v; want [1] and an error about new token 1", got, err)
		}
	})
	t.Run("nil model", func(t *testing.T) {
		if _, err := generate.Generate(nil, []int{1}, generate.Options{MaxNewTokens: 1}); err == nil {
			t.Fatal("no error for a nil model")
		}
	})
}

// TestSeeds: the same seed repeats a sampled continuation, other seeds on
// a flat distribution give others, and a greedy sampler ignores the seed.
func TestSeeds(t *testing.T) {
	flat := &fake{vocab: 1000, next: func(int) []float32 { return make([]float32, 1000) }}
	opts := generate.Options{MaxNewTokens: 16, Sampler: generate.Sampler{Temperature: 1}}
	run := func(seed uint64) []int {
		t.Helper()
		o := opts
		o.Seed = seed
		got, err := generate.Generate(flat, []int{0}, o)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	a, b := run(1), run(1)
	if !slices.Equal(a, b) {
		t.Errorf("seed 1 twice: %v and %v", a, b)
	}
	seen := map[string]bool{fmt.Sprint(a): true}
	for seed := uint64(2); seed < 6; seed++ {
		s := fmt.Sprint(run(seed))
		if seen[s] {
			t.Errorf("seed %d repeats another seed's output %s", seed, s)
		}
		seen[s] = true
	}
	distinct := map[int]bool{}
	for _, id := range a {
		distinct[id] = true
	}
	if len(distinct) < 12 {
		t.Errorf("16 draws from 1000 equal tokens gave only %d distinct ids: %v", len(distinct), a)
	}
}

// buildDecoder writes and loads a tiny model.
func buildDecoder(t testing.TB, spec testmodel.Spec) (model.CausalLM, model.Decoder) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "m")
	if _, err := testmodel.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m, m.(model.Decoder)
}

var specs = []struct {
	name string
	spec testmodel.Spec
}{
	{"llama grouped-query", testmodel.Spec{ModelType: "llama", Heads: 4, KVHeads: 2}},
	{"llama tied head", testmodel.Spec{ModelType: "llama", Tied: true}},
	{"qwen2 qkv bias", testmodel.Spec{ModelType: "qwen2", Heads: 4, KVHeads: 1}},
	{"mistral sliding window", testmodel.Spec{ModelType: "mistral", SlidingWindow: 3}},
	{"gpt2", testmodel.Spec{ModelType: "gpt2"}},
}

// lastArgmax returns the argmax (lowest id on ties) of the last position
// of the full forward over ids.
func lastArgmax(t *testing.T, m model.CausalLM, ids []int) int {
	t.Helper()
	logits, err := m.Forward([][]int{ids})
	if err != nil {
		t.Fatal(err)
	}
	v := logits.Shape[2]
	row := logits.Data[len(logits.Data)-v:]
	best := 0
	for i, x := range row {
		if x > row[best] {
			best = i
		}
	}
	return best
}

// checkGreedy checks every generated token against the full forward over
// the prompt and the tokens before it.
func checkGreedy(t *testing.T, m model.CausalLM, prompt, got []int) {
	t.Helper()
	for i, id := range got {
		ctx := append(slices.Clone(prompt), got[:i]...)
		if want := lastArgmax(t, m, ctx); id != want {
			t.Fatalf("new token %d: generated %d, argmax of the full forward is %d (output %v)", i, id, want, got)
		}
	}
}

// TestGreedyMatchesForward: for every architecture, greedy generation
// through the cache picks the argmax of a full forward at every step; top-k
// 1 at any temperature is the same; a sampled continuation is reproducible
// from its seed.
func TestGreedyMatchesForward(t *testing.T) {
	for _, tc := range specs {
		t.Run(tc.name, func(t *testing.T) {
			m, dec := buildDecoder(t, tc.spec)
			prompt := []int{3, 17, 5, 28, 9}
			got, err := generate.Generate(dec, prompt, generate.Options{MaxNewTokens: 12})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 12 {
				t.Fatalf("%d new tokens, want 12", len(got))
			}
			checkGreedy(t, m, prompt, got)
			topK1, err := generate.Generate(dec, prompt, generate.Options{MaxNewTokens: 12, Seed: 7, Sampler: generate.Sampler{Temperature: 1.5, TopK: 1}})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(topK1, got) {
				t.Errorf("top-k 1: %v, greedy: %v", topK1, got)
			}
			hot := generate.Options{MaxNewTokens: 12, Seed: 3, Sampler: generate.Sampler{Temperature: 1.2, TopP: 0.95}}
			a, err := generate.Generate(dec, prompt, hot)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := generate.Generate(dec, prompt, hot)
			if !slices.Equal(a, b) {
				t.Errorf("same seed: %v then %v", a, b)
			}
		})
	}
}

// TestContextLimit: GPT-2 generation stops at n_positions without error.
func TestContextLimit(t *testing.T) {
	m, dec := buildDecoder(t, testmodel.Spec{ModelType: "gpt2", Positions: 16})
	prompt := seq(0, 10)
	got, err := generate.Generate(dec, prompt, generate.Options{MaxNewTokens: 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Fatalf("%d new tokens after a 10-token prompt in 16 positions, want 6", len(got))
	}
	checkGreedy(t, m, prompt, got)
	if _, err := generate.Generate(dec, seq(0, 17), generate.Options{MaxNewTokens: 1}); err == nil {
		t.Fatal("a 17-token prompt in 16 positions was accepted")
	}
}
