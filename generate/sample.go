package generate

import (
	"fmt"
	"math"

	"github.com/orthotune/orthotune/tensor"
)

// Sampler chooses the next token from a row of logits. The zero value is
// greedy decoding.
//
// With Temperature > 0 it samples as transformers does, in its order:
// logits are divided by Temperature, then TopK keeps the TopK highest
// (and any tied with the TopK-th, as transformers' TopKLogitsWarper does),
// then TopP keeps the smallest set of the most probable remaining tokens
// whose probabilities sum to at least TopP (always at least one token),
// and a token is drawn from what is left, renormalised. The softmax runs in
// float64.
type Sampler struct {
	// Temperature 0 is greedy: the highest logit, the lowest id on ties.
	Temperature float64
	// TopK > 0 keeps the TopK most likely tokens; 0 keeps all.
	TopK int
	// TopP in (0, 1) is nucleus sampling; 0 and 1 keep all tokens.
	TopP float64
}

// Validate reports a sampler setting outside its range: a negative,
// infinite or NaN temperature, a negative top-k, a top-p outside [0, 1].
func (s Sampler) Validate() error {
	if !(s.Temperature >= 0) || math.IsInf(s.Temperature, 1) {
		return fmt.Errorf("generate: temperature %v: want a finite number ≥ 0 (0 = greedy)", s.Temperature)
	}
	if s.TopK < 0 {
		return fmt.Errorf("generate: top_k %d: want ≥ 0 (0 = off)", s.TopK)
	}
	if !(s.TopP >= 0 && s.TopP <= 1) {
		return fmt.Errorf("generate: top_p %v: want a number in [0, 1] (0 or 1 = off)", s.TopP)
	}
	return nil
}

// Greedy reports whether the sampler always takes the most likely token.
func (s Sampler) Greedy() bool { return !(s.Temperature > 0) }

// Sample returns the chosen token id, drawing one Float64 from rng unless
// the sampler is greedy (rng may then be nil; a nil rng also makes a
// sampling sampler greedy). NaN logits are never chosen; if any logit is
// +Inf the +Inf ones share all the probability. Sample returns −1 when no
// logit is a number above −Inf (including an empty row).
func (s Sampler) Sample(logits []float32, rng *tensor.RNG) int {
	if s.Greedy() || rng == nil {
		return tensor.Argmax(logits)
	}
	kept := s.filter(logits)
	if len(kept) == 0 {
		return -1
	}
	var total float64
	for _, c := range kept {
		total += c.w
	}
	u := rng.Float64() * total
	var acc float64
	for _, c := range kept {
		acc += c.w
		if u < acc {
			return c.id
		}
	}
	return kept[len(kept)-1].id
}

// Distribution returns the probability Sample gives each token of logits:
// the temperature-scaled softmax restricted to what top-k and top-p keep,
// renormalised; for a greedy sampler, 1 on the argmax. It is all zeros when
// Sample would return −1.
func (s Sampler) Distribution(logits []float32) []float64 {
	out := make([]float64, len(logits))
	if s.Greedy() {
		if i := tensor.Argmax(logits); i >= 0 {
			out[i] = 1
		}
		return out
	}
	kept := s.filter(logits)
	var total float64
	for _, c := range kept {
		total += c.w
	}
	for _, c := range kept {
		out[c.id] = c.w / total
	}
	return out
}

// candidate is a token with its scaled logit z and unnormalised weight w.
type candidate struct {
	id int
	z  float64
	w  float64
}

// before orders candidates by decreasing logit, then increasing id.
func before(a, b candidate) bool { return a.z > b.z || (a.z == b.z && a.id < b.id) }

// filter applies temperature, top-k and top-p and returns the tokens kept
// with weights proportional to their probabilities.
func (s Sampler) filter(logits []float32) []candidate {
	top := tensor.Argmax(logits)
	if top < 0 {
		return nil
	}
	cs := make([]candidate, 0, len(logits))
	inf, vmax := math.IsInf(float64(logits[top]), 1), float64(logits[top])
	for i, v := range logits {
		switch {
		case inf && math.IsInf(float64(v), 1):
			cs = append(cs, candidate{id: i}) // the limit: +Inf logits share the mass equally
		case !inf && v > float32(math.Inf(-1)): // not NaN, not −Inf
			// Shifting by the maximum first keeps a tiny temperature from
			// overflowing to +Inf; the softmax is unchanged.
			cs = append(cs, candidate{id: i, z: (float64(v) - vmax) / s.Temperature})
		}
	}
	topK := s.TopK > 0 && s.TopK < len(cs)
	topP := s.TopP > 0 && s.TopP < 1
	if !topK && !topP {
		return weigh(cs)
	}
	// Pop candidates in order from a heap: only the head of the order is
	// ever needed, so a large vocabulary is not fully sorted.
	h := heap(cs)
	h.init()
	if topK {
		sorted := make([]candidate, 0, s.TopK)
		for len(sorted) < s.TopK {
			sorted = append(sorted, h.pop())
		}
		kth := sorted[s.TopK-1].z
		for len(h) > 0 && h[0].z == kth {
			sorted = append(sorted, h.pop())
		}
		cs = weigh(sorted)
		if !topP {
			return cs
		}
		return nucleus(s.TopP, func(i int) (candidate, bool) {
			if i < len(cs) {
				return cs[i], true
			}
			return candidate{}, false
		})
	}
	// Top-p alone: normalise over every candidate, then pop in order.
	m := h[0].z
	var sum float64
	for i := range h {
		h[i].w = math.Exp(h[i].z - m)
		sum += h[i].w
	}
	for i := range h {
		h[i].w /= sum
	}
	return nucleus(s.TopP, func(int) (candidate, bool) {
		if len(h) == 0 {
			return candidate{}, false
		}
		return h.pop(), true
	})
}

// weigh sets w = exp(z − max z) / Σ, the softmax of the candidates' logits.
func weigh(cs []candidate) []candidate {
	m := math.Inf(-1)
	for _, c := range cs {
		m = max(m, c.z)
	}
	var sum float64
	for i := range cs {
		cs[i].w = math.Exp(cs[i].z - m)
		sum += cs[i].w
	}
	for i := range cs {
		cs[i].w /= sum
	}
	return cs
}

// nucleus takes candidates (normalised weights) in decreasing order from
// next and keeps each one while the probability of those kept before it is
// below p: the smallest head of the order whose sum reaches p. This is
// transformers' TopPLogitsWarper rule (drop a token when the probability
// of it and everything less likely is at most 1 − p) read from the top.
func nucleus(p float64, next func(i int) (candidate, bool)) []candidate {
	var kept []candidate
	above := 0.0
	for i := 0; ; i++ {
		c, ok := next(i)
		if !ok || (len(kept) > 0 && above >= p) {
			break
		}
		kept = append(kept, c)
		above += c.w
	}
	return kept
}

// heap is a binary heap of candidates whose root comes first in the
// before order.
type heap []candidate

func (h heap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h heap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		j := l
		if r := l + 1; r < len(h) && before(h[r], h[l]) {
			j = r
		}
		if !before(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

func (h *heap) pop() candidate {
	old := *h
	top := old[0]
	last := len(old) - 1
	old[0] = old[last]
	*h = old[:last]
	h.down(0)
	return top
}
