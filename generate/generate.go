package generate

import (
	"errors"
	"fmt"
	"slices"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/tensor"
)

// Options controls Generate.
type Options struct {
	// MaxNewTokens is the most tokens to generate; 0 returns none.
	MaxNewTokens int
	// Sampler chooses each token; the zero value is greedy.
	Sampler Sampler
	// Seed seeds the sampler's random source: the same seed, prompt,
	// model and options give the same tokens.
	Seed uint64
	// StopIDs end generation after any of them is emitted (EOS); the stop
	// id is the last token returned.
	StopIDs []int
	// OnToken, when set, is called with each new id as soon as it is
	// chosen, in order, before the model runs on it. An error stops
	// generation and is returned, wrapped.
	OnToken func(id int) error
}

// StopReason says why generation ended.
type StopReason int

const (
	// StopError: generation failed; the error says why.
	StopError StopReason = iota
	// StopMaxNewTokens: Options.MaxNewTokens tokens were generated.
	StopMaxNewTokens
	// StopID: one of Options.StopIDs was generated (the end of sequence).
	StopID
	// StopContext: prompt and output filled the model's context before
	// MaxNewTokens tokens or a stop id: the text is cut off.
	StopContext
)

// String names the reason: "error", "max new tokens", "stop id" or
// "context".
func (r StopReason) String() string {
	switch r {
	case StopError:
		return "error"
	case StopMaxNewTokens:
		return "max new tokens"
	case StopID:
		return "stop id"
	case StopContext:
		return "context"
	}
	return fmt.Sprintf("StopReason(%d)", int(r))
}

// Generate continues prompt with up to opts.MaxNewTokens tokens and returns
// the new ids (the prompt is not repeated); it is Run without the reason
// generation stopped.
func Generate(m model.Decoder, prompt []int, opts Options) ([]int, error) {
	out, _, err := Run(m, prompt, opts)
	return out, err
}

// Run continues prompt with up to opts.MaxNewTokens tokens and returns
// the new ids (the prompt is not repeated) and why generation stopped. The
// prompt runs through the model once to fill a key/value cache, then each
// new token costs one cached step.
//
// The model's context (Info().MaxPositions, when positive) bounds prompt
// plus output: a prompt longer than the context is an error, and
// generation stops without error, with StopContext, when the sequence
// reaches it before MaxNewTokens tokens or a stop id. An empty
// prompt, ids outside the vocabulary, a negative MaxNewTokens or an
// invalid Sampler are errors. Generation stops after a stop id, after
// MaxNewTokens, or when OnToken fails; on an error from OnToken or the
// model, the ids generated so far are returned with it. A model whose
// logits are all NaN or −Inf at some step is an error.
//
// A PEFT-adapted model generates through its adapter: pass the base model
// the adapter is installed on (peft.Model routes through the same slots).
// Switch training-only behaviour such as adapter dropout off first.
func Run(m model.Decoder, prompt []int, opts Options) ([]int, StopReason, error) {
	if m == nil {
		return nil, StopError, errors.New("generate: no model")
	}
	if err := opts.Sampler.Validate(); err != nil {
		return nil, StopError, err
	}
	if opts.MaxNewTokens < 0 {
		return nil, StopError, fmt.Errorf("generate: max new tokens %d: want ≥ 0", opts.MaxNewTokens)
	}
	if len(prompt) == 0 {
		return nil, StopError, errors.New("generate: the prompt is empty: need at least one token")
	}
	info := m.Info()
	if err := model.CheckIDs([][]int{prompt}, info.Vocab, info.MaxPositions); err != nil {
		return nil, StopError, fmt.Errorf("generate: prompt: %w", err)
	}
	maxNew, atLimit := opts.MaxNewTokens, StopMaxNewTokens
	if info.MaxPositions > 0 && info.MaxPositions-len(prompt) < maxNew {
		maxNew, atLimit = info.MaxPositions-len(prompt), StopContext
	}
	out := []int{}
	if maxNew == 0 {
		return out, atLimit, nil
	}
	// The last new token is never fed back, so the cache holds the prompt
	// and all but one of the new tokens.
	cache := m.NewCache(1, len(prompt)+maxNew-1)
	var rng *tensor.RNG
	if !opts.Sampler.Greedy() {
		rng = tensor.NewRNG(opts.Seed)
	}
	logits, err := m.Step([][]int{prompt}, cache)
	if err != nil {
		return out, StopError, fmt.Errorf("generate: prompt: %w", err)
	}
	for {
		vocab := logits.Shape[2]
		last := logits.Data[(logits.Shape[1]-1)*vocab : logits.Shape[1]*vocab]
		id := opts.Sampler.Sample(last, rng)
		if id < 0 {
			return out, StopError, fmt.Errorf("generate: new token %d: the model's logits are all NaN or −Inf", len(out))
		}
		out = append(out, id)
		if opts.OnToken != nil {
			if err := opts.OnToken(id); err != nil {
				return out, StopError, fmt.Errorf("generate: OnToken(%d) for new token %d: %w", id, len(out)-1, err)
			}
		}
		if slices.Contains(opts.StopIDs, id) {
			return out, StopID, nil
		}
		if len(out) == maxNew {
			return out, atLimit, nil
		}
		if logits, err = m.Step([][]int{{id}}, cache); err != nil {
			return out, StopError, fmt.Errorf("generate: new token %d: %w", len(out), err)
		}
	}
}
