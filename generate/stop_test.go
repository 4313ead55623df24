package generate_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/orthotune/orthotune/generate"
	"github.com/orthotune/orthotune/internal/testmodel"
)

// TestRunStopReason: Run says why generation stopped — MaxNewTokens, a
// stop id, the model's context cutting the text, or an error — on a
// decoder whose greedy output is known (0, 1, 2, … from the prompt's
// length).
func TestRunStopReason(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ctx    int
		prompt []int
		opts   generate.Options
		want   []int
		why    generate.StopReason
	}{
		{"max new tokens", 0, []int{0, 1, 2}, generate.Options{MaxNewTokens: 4}, seq(3, 7), generate.StopMaxNewTokens},
		{"max new tokens 0", 0, []int{0}, generate.Options{}, []int{}, generate.StopMaxNewTokens},
		{"stop id", 0, []int{0, 1, 2}, generate.Options{MaxNewTokens: 10, StopIDs: []int{5}}, seq(3, 6), generate.StopID},
		{"stop id as the last token asked for", 0, []int{0}, generate.Options{MaxNewTokens: 3, StopIDs: []int{3}}, seq(1, 4), generate.StopID},
		{"context cuts the text", 8, seq(0, 5), generate.Options{MaxNewTokens: 10}, seq(5, 8), generate.StopContext},
		{"prompt fills the context", 8, seq(0, 8), generate.Options{MaxNewTokens: 1}, []int{}, generate.StopContext},
		{"max new tokens end exactly at the context", 8, seq(0, 5), generate.Options{MaxNewTokens: 3}, seq(5, 8), generate.StopMaxNewTokens},
		{"stop id at the context's end", 8, seq(0, 5), generate.Options{MaxNewTokens: 10, StopIDs: []int{7}}, seq(5, 8), generate.StopID},
		{"within the context", 8, seq(0, 2), generate.Options{MaxNewTokens: 3}, seq(2, 5), generate.StopMaxNewTokens},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why, err := generate.Run(counting(32, tc.ctx), tc.prompt, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) || why != tc.why {
				t.Errorf("Run = %v, %v; want %v, %v", got, why, tc.want, tc.why)
			}
		})
	}

	f := counting(32, 0)
	f.fail = 2
	got, why, err := generate.Run(f, []int{0}, generate.Options{MaxNewTokens: 5})
	if !errors.Is(err, errModel) || why != generate.StopError || !slices.Equal(got, []int{1}) {
		t.Errorf("a failing model: Run = %v, %v, %v; want [1], %v and the model's error", got, why, err, generate.StopError)
	}
	if _, why, err := generate.Run(f, nil, generate.Options{MaxNewTokens: 1}); err == nil || why != generate.StopError {
		t.Errorf("an empty prompt: reason %v, error %v", why, err)
	}

	// A real model: GPT-2 with 16 positions.
	_, dec := buildDecoder(t, testmodel.Spec{ModelType: "gpt2", Positions: 16})
	if got, why, err := generate.Run(dec, seq(0, 10), generate.Options{MaxNewTokens: 20}); err != nil || len(got) != 6 || why != generate.StopContext {
		t.Errorf("GPT-2, 10-token prompt, 16 positions: %d tokens, %v, %v; want 6, %v", len(got), why, err, generate.StopContext)
	}
}

func TestStopReasonString(t *testing.T) {
	for r, want := range map[generate.StopReason]string{
		generate.StopError: "error", generate.StopMaxNewTokens: "max new tokens", generate.StopID: "stop id",
		generate.StopContext: "context", 9: "StopReason(9)",
	} {
		if got := r.String(); got != want {
			t.Errorf("%d: %q, want %q", int(r), got, want)
		}
	}
}
