package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// bpe is the BPE model: a vocab and ranked merges.
type bpe struct {
	vocab  map[string]int32
	merges mergeTable
	// mergeList holds the merges in rank order, for MarshalJSON.
	mergeList [][2]int32

	unkToken     *string
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool

	// Filled by link:
	runeID  map[rune]int32 // model id of each one-rune token
	byteSym [256]int32     // model id of the byte-level character of each byte, or -1
	// remap maps a model id to the id Hugging Face reports for its token
	// when an added token with that content has another id.
	remap map[int32]int32
	// fallback[b] is the id of "<0xHH>", or -1.
	fallback [256]int32
	unkID    int32 // -1 when there is no usable unk token
	t        *Tokenizer

	// noCut lists the characters c for which some merge produces a token
	// containing c followed by "▁": a word can be cut before a "▁" that
	// follows any other character, since no merge crosses that point (see
	// encodeWord). chunking is false when cutting is not allowed.
	noCut    map[rune]bool
	chunking bool
}

type mergeRule struct {
	rank int32
	id   int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// parse reads the model object; raw must be valid JSON (parse checks the
// whole file first).
func (m *bpe) parse(raw json.RawMessage, path string) error {
	var o object
	var err error
	if fields, ok := splitObjectFast(raw); ok {
		o = object{path: path, fields: fields}
	} else if o, err = parseObject(raw, path); err != nil {
		return err
	}
	typ, err := o.str("type", "")
	if err != nil {
		return err
	}
	switch typ {
	case "BPE":
	case "":
		if !o.has("merges") {
			return fmt.Errorf("%s.type: missing, and no merges: not a BPE model", path)
		}
	default:
		return fmt.Errorf("%w (only BPE models are implemented)", unsupported(path, typ))
	}
	if o.has("dropout") {
		return fmt.Errorf("%s: BPE dropout is not supported; it must be null", o.field("dropout"))
	}
	if m.unkToken, err = o.optStr("unk_token"); err != nil {
		return err
	}
	for _, k := range []string{"continuing_subword_prefix", "end_of_word_suffix"} {
		s, err := o.str(k, "")
		if err != nil {
			return err
		}
		if s != "" {
			return fmt.Errorf("%s = %q: %w (only \"\" or null)", o.field(k), s, ErrUnsupported)
		}
	}
	if m.fuseUnk, err = o.boolean("fuse_unk", false); err != nil {
		return err
	}
	if m.byteFallback, err = o.boolean("byte_fallback", false); err != nil {
		return err
	}
	if m.ignoreMerges, err = o.boolean("ignore_merges", false); err != nil {
		return err
	}
	if !o.has("vocab") {
		return fmt.Errorf("%s: missing", o.field("vocab"))
	}
	vocab, ok := scanVocab(o.fields["vocab"])
	if !ok {
		var slow map[string]int
		if err := json.Unmarshal(o.fields["vocab"], &slow); err != nil {
			return jsonError(o.fields["vocab"], err, o.field("vocab"))
		}
		if slow == nil {
			return fmt.Errorf("%s: want an object of token: id", o.field("vocab"))
		}
		vocab = make(map[string]int32, len(slow))
		for tok, id := range slow {
			if id < 0 || id > math.MaxInt32 {
				return fmt.Errorf("%s[%q] = %d: id out of range", o.field("vocab"), tok, id)
			}
			vocab[tok] = int32(id)
		}
	}
	limit := int32(min(len(vocab)+maxIDSlack, math.MaxInt32))
	maxID := int32(-1)
	for tok, id := range vocab {
		if id < 0 || id > limit {
			return fmt.Errorf("%s[%q] = %d: id out of range [0, %d]", o.field("vocab"), tok, id, limit)
		}
		maxID = max(maxID, id)
	}
	if len(vocab) > 0 {
		byID := make([]string, maxID+1)
		seen := make([]bool, maxID+1)
		for tok, id := range vocab {
			if seen[id] {
				a, b := byID[id], tok
				if b < a {
					a, b = b, a
				}
				return fmt.Errorf("%s: tokens %q and %q share id %d", o.field("vocab"), a, b, id)
			}
			seen[id], byID[id] = true, tok
		}
	}
	m.vocab = vocab
	if raw := o.fields["merges"]; !isNull(raw) {
		n := bytes.Count(raw, []byte{','}) + 1
		m.merges = newMergeTable(n)
		m.mergeList = make([][2]int32, 0, n)
		if m.scanMergeIDs(raw) {
			return nil
		}
	}
	merges, err := parseMerges(o.fields["merges"], o.field("merges"))
	if err != nil {
		return err
	}
	m.merges = newMergeTable(len(merges))
	m.mergeList = make([][2]int32, 0, len(merges))
	for i, p := range merges {
		a, okA := m.vocab[p[0]]
		b, okB := m.vocab[p[1]]
		c, okC := m.vocab[p[0]+p[1]]
		switch {
		case !okA:
			return fmt.Errorf("%s[%d] (%q %q): token %q not in %s", o.field("merges"), i, p[0], p[1], p[0], o.field("vocab"))
		case !okB:
			return fmt.Errorf("%s[%d] (%q %q): token %q not in %s", o.field("merges"), i, p[0], p[1], p[1], o.field("vocab"))
		case !okC:
			return fmt.Errorf("%s[%d] (%q %q): merged token %q not in %s", o.field("merges"), i, p[0], p[1], p[0]+p[1], o.field("vocab"))
		}
		// A repeated merge takes its last rank, as in Hugging Face.
		m.merges.put(pairKey(a, b), mergeRule{rank: int32(i), id: c})
		m.mergeList = append(m.mergeList, [2]int32{a, b})
	}
	return nil
}

// link builds the lookup tables that depend on the added tokens.
func (m *bpe) link(t *Tokenizer) error {
	m.t = t
	m.runeID = make(map[rune]int32)
	for tok, id := range m.vocab {
		if r, n := utf8.DecodeRuneInString(tok); n == len(tok) && (r != utf8.RuneError || n == 3) {
			m.runeID[r] = id
		}
	}
	for b := 0; b < 256; b++ {
		m.byteSym[b] = -1
		if id, ok := m.vocab[string(byteToRune[b])]; ok {
			m.byteSym[b] = id
		}
	}
	// Only an added token's content (or normalized content) can map a
	// model token to another id.
	m.remap = map[int32]int32{}
	for content := range t.addedByContent {
		if id, ok := m.vocab[content]; ok {
			if f, _ := t.lookupFinal(content); int32(f) != id {
				m.remap[id] = int32(f)
			}
		}
	}
	for b := 0; b < 256; b++ {
		m.fallback[b] = -1
		tok := byteToken(byte(b))
		if _, ok := t.combined[tok]; ok {
			f, _ := t.lookupFinal(tok)
			m.fallback[b] = int32(f)
		}
	}
	// Cutting words before "▁" (encodeChunks) is exact unless ignore_merges
	// looks words up whole.
	m.chunking = !m.ignoreMerges
	m.noCut = map[rune]bool{}
	if m.chunking {
		merged := make(map[int32]bool, len(m.mergeList))
		for _, p := range m.mergeList {
			r, _ := m.merges.get(pairKey(p[0], p[1]))
			merged[r.id] = true
		}
		for tok, id := range m.vocab {
			if !merged[id] {
				continue
			}
			for i := 1; i < len(tok); {
				k := strings.Index(tok[i:], "▁")
				if k < 0 {
					break
				}
				i += k
				prev, _ := utf8.DecodeLastRuneInString(tok[:i])
				m.noCut[prev] = true
				i += len("▁")
			}
		}
	}
	m.unkID = -1
	if m.unkToken != nil {
		if f, ok := t.lookupFinal(*m.unkToken); ok {
			m.unkID = int32(f)
		}
	}
	return nil
}

const hexDigits = "0123456789ABCDEF"

// byteToken is the byte-fallback token of b: "<0xE4>".
func byteToken(b byte) string {
	return "<0x" + string([]byte{hexDigits[b>>4], hexDigits[b&15]}) + ">"
}

func (m *bpe) final(id int32) int32 {
	if len(m.remap) > 0 {
		if f, ok := m.remap[id]; ok {
			return f
		}
	}
	return id
}

// symbol is one piece of a word during merging.
type symbol struct {
	id         int32 // model id, or -1 for a character outside the vocab
	prev, next int32
	start, end int32 // byte span in the word
}

// heapItem is a candidate merge: key orders by rank, then by the position
// of the left symbol (leftmost first).
type heapItem struct {
	key   uint64 // rank<<32 | pos
	right int32  // index of the right symbol when pushed
	a, b  int32  // ids of the pair when pushed
	id    int32  // id of the merged token
}

// bpeScratch is reused across words of one Encode call.
type bpeScratch struct {
	syms []symbol
	heap []heapItem
	buf  []byte
}

// encodeWord appends the ids of one pre-token. byteLevel means word is raw
// text whose bytes the ByteLevel pre-tokenizer maps to characters; otherwise
// word is the text the model sees.
func (m *bpe) encodeWord(word string, byteLevel bool, sc *bpeScratch, out []int) []int {
	if len(word) == 0 {
		return out
	}
	if !byteLevel && m.chunking && len(word) > chunkAbove {
		return m.encodeChunks(word, sc, out)
	}
	// A tokenizer's words are all byte-level or all not: one cache serves.
	cacheable := len(word) <= maxCachedWord
	key := word
	if cacheable {
		if ids, ok := m.t.cache.get(key); ok {
			for _, id := range ids {
				out = append(out, int(id))
			}
			return out
		}
	}
	start := len(out)
	out = m.encodeUncached(word, byteLevel, sc, out)
	if cacheable {
		ids := make([]int32, len(out)-start)
		for i, id := range out[start:] {
			ids[i] = int32(id)
		}
		m.t.cache.put(key, ids)
	}
	return out
}

// chunkAbove is the word length (bytes) above which encodeWord cuts words
// into chunks.
const chunkAbove = 32

// encodeChunks encodes a long word (a Metaspace tokenizer's words are whole
// sentences) chunk by chunk, cutting before each "▁" that follows a
// character outside noCut. BPE gives the same result: a merge across the
// cut would produce a token with that character followed by "▁", and no
// merge does; the merges on either side do not depend on each other, and
// their order by (rank, position) is kept within each side. Each chunk is
// looked up in the word cache.
func (m *bpe) encodeChunks(word string, sc *bpeScratch, out []int) []int {
	const meta = "▁"
	start := 0
	for i := 1; i < len(word); {
		k := strings.Index(word[i:], meta)
		if k < 0 {
			break
		}
		i += k
		prev, _ := utf8.DecodeLastRuneInString(word[:i])
		if !m.noCut[prev] {
			out = m.encodeChunk(word[start:i], sc, out)
			start = i
		}
		i += len(meta)
	}
	return m.encodeChunk(word[start:], sc, out)
}

func (m *bpe) encodeChunk(chunk string, sc *bpeScratch, out []int) []int {
	if len(chunk) > maxCachedWord {
		return m.encodeUncached(chunk, false, sc, out)
	}
	if ids, ok := m.t.cache.get(chunk); ok {
		for _, id := range ids {
			out = append(out, int(id))
		}
		return out
	}
	start := len(out)
	out = m.encodeUncached(chunk, false, sc, out)
	ids := make([]int32, len(out)-start)
	for i, id := range out[start:] {
		ids[i] = int32(id)
	}
	m.t.cache.put(chunk, ids)
	return out
}

func (m *bpe) encodeUncached(word string, byteLevel bool, sc *bpeScratch, out []int) []int {
	if m.ignoreMerges {
		text := word
		if byteLevel {
			sc.buf = appendByteLevel(sc.buf[:0], word)
			text = string(sc.buf)
		}
		if _, ok := m.t.combined[text]; ok {
			f, _ := m.t.lookupFinal(text)
			return append(out, f)
		}
	}
	syms := sc.syms[:0]
	if byteLevel {
		for i := 0; i < len(word); i++ {
			syms = append(syms, symbol{id: m.byteSym[word[i]], start: int32(i), end: int32(i + 1)})
		}
	} else {
		// word is valid UTF-8 here (Encode sanitizes its input).
		for i, r := range word {
			id, ok := m.runeID[r]
			if !ok {
				id = -1
			}
			syms = append(syms, symbol{id: id, start: int32(i), end: int32(i + utf8.RuneLen(r))})
		}
	}
	n := int32(len(syms))
	for i := range syms {
		syms[i].prev = int32(i) - 1
		syms[i].next = int32(i) + 1
	}
	syms[n-1].next = -1
	if n > 1 {
		m.merge(syms, sc)
	}
	sc.syms = syms
	for i := int32(0); i != -1; i = syms[i].next {
		s := syms[i]
		if s.id >= 0 {
			out = append(out, int(m.final(s.id)))
			continue
		}
		out = m.unknown(word[s.start:s.end], byteLevel, sc, out)
	}
	return out
}

// unknown appends the ids for a character that is not in the model vocab:
// an added token with that content, its byte-fallback tokens, or unk.
func (m *bpe) unknown(piece string, byteLevel bool, sc *bpeScratch, out []int) []int {
	text := piece
	if byteLevel {
		sc.buf = appendByteLevel(sc.buf[:0], piece)
		text = string(sc.buf)
	}
	if _, ok := m.t.combined[text]; ok {
		f, _ := m.t.lookupFinal(text)
		return append(out, f)
	}
	if m.byteFallback {
		all := true
		for i := 0; i < len(text); i++ {
			if m.fallback[text[i]] < 0 {
				all = false
				break
			}
		}
		if all {
			for i := 0; i < len(text); i++ {
				out = append(out, int(m.fallback[text[i]]))
			}
			return out
		}
	}
	if m.unkID >= 0 {
		out = append(out, int(m.unkID))
	}
	return out
}

// merge applies the merges in rank order, leftmost first among equal ranks,
// using a binary heap of candidate pairs.
func (m *bpe) merge(syms []symbol, sc *bpeScratch) {
	h := sc.heap[:0]
	push := func(pos int32) {
		next := syms[pos].next
		if next < 0 {
			return
		}
		a, b := syms[pos].id, syms[next].id
		if a < 0 || b < 0 {
			return
		}
		r, ok := m.merges.get(pairKey(a, b))
		if !ok {
			return
		}
		it := heapItem{key: uint64(r.rank)<<32 | uint64(pos), right: next, a: a, b: b, id: r.id}
		h = append(h, it)
		i := len(h) - 1
		for i > 0 {
			p := (i - 1) / 2
			if it.key >= h[p].key {
				break
			}
			h[i] = h[p]
			i = p
		}
		h[i] = it
	}
	for i := int32(0); i < int32(len(syms))-1; i++ {
		push(i)
	}
	for len(h) > 0 {
		it := h[0]
		last := len(h) - 1
		x := h[last]
		h = h[:last]
		if last > 0 {
			i := 0
			for {
				l := 2*i + 1
				if l >= last {
					break
				}
				c := l
				if r := l + 1; r < last && h[r].key < h[l].key {
					c = r
				}
				if h[c].key >= x.key {
					break
				}
				h[i] = h[c]
				i = c
			}
			h[i] = x
		}
		pos := int32(uint32(it.key))
		left := &syms[pos]
		if left.end == left.start || left.next != it.right || left.id != it.a || syms[it.right].id != it.b {
			continue // stale: a symbol of the pair was merged away or changed
		}
		right := &syms[it.right]
		left.id = it.id
		left.end = right.end
		left.next = right.next
		if right.next >= 0 {
			syms[right.next].prev = pos
		}
		right.start, right.end = 0, 0 // mark removed
		right.next, right.prev = -1, -1
		if left.prev >= 0 {
			push(left.prev)
		}
		push(pos)
	}
	sc.heap = h
}

// mergeTable is an open-addressing hash table from pair keys to merges,
// faster than a Go map on this hot path.
type mergeTable struct {
	keys  []uint64 // emptyKey where free
	vals  []mergeRule
	shift uint
	n     int
}

const emptyKey = ^uint64(0) // never a pair of non-negative ids

func newMergeTable(n int) mergeTable {
	size, shift := 8, uint(61)
	for size < 2*n {
		size *= 2
		shift--
	}
	t := mergeTable{keys: make([]uint64, size), vals: make([]mergeRule, size), shift: shift}
	for i := range t.keys {
		t.keys[i] = emptyKey
	}
	return t
}

func (t *mergeTable) slot(k uint64) int { return int((k * 0x9E3779B97F4A7C15) >> t.shift) }

func (t *mergeTable) put(k uint64, v mergeRule) {
	mask := len(t.keys) - 1
	for i := t.slot(k); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case emptyKey:
			t.keys[i], t.vals[i] = k, v
			t.n++
			return
		case k:
			t.vals[i] = v
			return
		}
	}
}

func (t *mergeTable) get(k uint64) (mergeRule, bool) {
	if len(t.keys) == 0 {
		return mergeRule{}, false
	}
	mask := len(t.keys) - 1
	for i := t.slot(k); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case k:
			return t.vals[i], true
		case emptyKey:
			return mergeRule{}, false
		}
	}
}

// byteToRune is GPT-2's map from bytes to printable characters; runeToByte
// is its inverse (-1 for other runes).
var byteToRune, runeToByte = func() ([256]rune, map[rune]byte) {
	var b2r [256]rune
	r2b := make(map[rune]byte, 256)
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
		r2b[b2r[b]] = byte(b)
	}
	return b2r, r2b
}()

func appendByteLevel(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		dst = utf8.AppendRune(dst, byteToRune[s[i]])
	}
	return dst
}

func byteLevelString(s string) string { return string(appendByteLevel(nil, s)) }
