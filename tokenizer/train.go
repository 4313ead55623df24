package tokenizer

import (
	"container/heap"
	"sort"
)

// TrainByteLevelBPE learns a GPT-2-style byte-level BPE tokenizer from
// corpus: the text is cut into words by GPT-2's pre-tokenizer regex (the
// special tokens are cut out first), every word starts as its bytes, and the
// most frequent adjacent pair is merged until the vocabulary holds vocabSize
// tokens (the 256 bytes, the merges and the special tokens) or no pair occurs
// twice. Ties go to the pair whose tokens were created first (smaller ids,
// left then right), so training is deterministic. The special tokens become
// special added tokens after the learned vocabulary, in the order given
// (empty and repeated ones are dropped).
func TrainByteLevelBPE(corpus []string, vocabSize int, special []string) *Tokenizer {
	var specials []string
	seen := map[string]bool{}
	for _, s := range special {
		if s != "" && !seen[s] {
			seen[s] = true
			specials = append(specials, s)
		}
	}
	splitter := newTrie(specials, nil)
	m := gpt2Matcher()

	// Count the words.
	counts := map[string]int{}
	var order []string // first-seen order, for determinism
	var spans [][2]int
	var parts []string
	for _, text := range corpus {
		text = sanitize(text)
		parts = splitter.split(text, parts[:0])
		for _, p := range parts {
			if seen[p] {
				continue
			}
			spans = m.find(p, spans[:0])
			for _, sp := range spans {
				w := p[sp[0]:sp[1]]
				if w == "" {
					continue
				}
				if counts[w] == 0 {
					order = append(order, w)
				}
				counts[w]++
			}
		}
	}

	tokens := make([]string, 256) // id -> token (GPT-2 byte characters)
	ids := map[string]int32{}
	for b := 0; b < 256; b++ {
		tokens[b] = string(byteToRune[b])
		ids[tokens[b]] = int32(b)
	}

	type word struct {
		syms  []int32
		count int
	}
	words := make([]word, len(order))
	for i, w := range order {
		syms := make([]int32, len(w))
		for j := 0; j < len(w); j++ {
			syms[j] = int32(w[j])
		}
		words[i] = word{syms, counts[w]}
	}

	pairCount := map[uint64]int{}
	where := map[uint64]map[int32]bool{}
	addPairs := func(wi int32, sign int) {
		w := &words[wi]
		for j := 0; j+1 < len(w.syms); j++ {
			k := pairKey(w.syms[j], w.syms[j+1])
			pairCount[k] += sign * w.count
			if sign > 0 {
				if where[k] == nil {
					where[k] = map[int32]bool{}
				}
				where[k][wi] = true
			}
		}
	}
	for i := range words {
		addPairs(int32(i), 1)
	}
	h := &pairHeap{}
	for k, c := range pairCount {
		h.items = append(h.items, pairItem{k, c})
	}
	heap.Init(h)

	var merges [][2]string
	merged := map[uint64]bool{}
	for len(tokens)+len(specials) < vocabSize && h.Len() > 0 {
		top := heap.Pop(h).(pairItem)
		if c := pairCount[top.key]; c != top.count {
			if c > 0 {
				heap.Push(h, pairItem{top.key, c}) // stale count: requeue
			}
			continue
		}
		if top.count < 2 {
			break
		}
		a, b := int32(top.key>>32), int32(uint32(top.key))
		text := tokens[a] + tokens[b]
		id, ok := ids[text]
		if !ok {
			id = int32(len(tokens))
			tokens = append(tokens, text)
			ids[text] = id
		}
		if !merged[top.key] {
			merged[top.key] = true
			merges = append(merges, [2]string{tokens[a], tokens[b]})
		}
		// Rewrite the words that contain the pair, in index order.
		affected := make([]int32, 0, len(where[top.key]))
		for wi := range where[top.key] {
			affected = append(affected, wi)
		}
		sort.Slice(affected, func(i, j int) bool { return affected[i] < affected[j] })
		touched := map[uint64]bool{}
		for _, wi := range affected {
			w := &words[wi]
			addPairs(wi, -1)
			out := w.syms[:0]
			for j := 0; j < len(w.syms); j++ {
				if j+1 < len(w.syms) && w.syms[j] == a && w.syms[j+1] == b {
					out = append(out, id)
					j++
				} else {
					out = append(out, w.syms[j])
				}
			}
			w.syms = out
			addPairs(wi, 1)
			for j := 0; j+1 < len(w.syms); j++ {
				touched[pairKey(w.syms[j], w.syms[j+1])] = true
			}
		}
		delete(where, top.key)
		delete(pairCount, top.key)
		keys := make([]uint64, 0, len(touched))
		for k := range touched {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, k := range keys {
			if c := pairCount[k]; c > 0 {
				heap.Push(h, pairItem{k, c})
			}
		}
	}

	vocab := make(map[string]int, len(tokens))
	for i, tok := range tokens {
		vocab[tok] = i
	}
	added := make([]AddedToken, len(specials))
	for i, s := range specials {
		added[i] = AddedToken{ID: len(tokens) + i, Content: s, Special: true}
	}
	t, err := NewByteLevelBPE(vocab, merges, added)
	if err != nil {
		// The vocab and merges are consistent by construction.
		panic("tokenizer: TrainByteLevelBPE built an invalid tokenizer: " + err.Error())
	}
	return t
}

type pairItem struct {
	key   uint64
	count int
}

// pairHeap is a max-heap of pair counts; equal counts put the smaller key
// (left id, then right id) first.
type pairHeap struct{ items []pairItem }

func (h *pairHeap) Len() int { return len(h.items) }
func (h *pairHeap) Less(i, j int) bool {
	if h.items[i].count != h.items[j].count {
		return h.items[i].count > h.items[j].count
	}
	return h.items[i].key < h.items[j].key
}
func (h *pairHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *pairHeap) Push(x any)    { h.items = append(h.items, x.(pairItem)) }
func (h *pairHeap) Pop() any {
	it := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return it
}
