package tokenizer

import (
	"hash/maphash"
	"sync"
	"unicode"
	"unicode/utf8"
)

// maxCachedWord is the longest pre-token (in bytes) kept in the word cache.
const maxCachedWord = 256

const (
	cacheShards      = 16
	cacheShardLimit  = 1 << 13 // entries per shard before it is emptied
	cacheShardsMask  = cacheShards - 1
	cacheTotalBudget = cacheShards * cacheShardLimit
)

// wordCache maps pre-tokens to their ids. It is sharded to keep lock
// contention low when several goroutines encode with one Tokenizer; a shard
// that fills up is emptied (cheap, and repeated words come back quickly).
type wordCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string][]int32
}

func (c *wordCache) init() {
	c.seed = maphash.MakeSeed()
	for i := range c.shards {
		c.shards[i].m = make(map[string][]int32)
	}
}

func (c *wordCache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)&cacheShardsMask]
}

func (c *wordCache) get(key string) ([]int32, bool) {
	s := c.shard(key)
	s.mu.RLock()
	ids, ok := s.m[key]
	s.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(key string, ids []int32) {
	s := c.shard(key)
	s.mu.Lock()
	if len(s.m) >= cacheShardLimit {
		s.m = make(map[string][]int32)
	}
	s.m[key] = ids
	s.mu.Unlock()
}

// trie finds the longest added token starting at a position, as Hugging
// Face's DictionarySplitter does.
type trie struct {
	first [256]bool
	nodes []trieNode
}

type trieNode struct {
	next map[byte]int32
	end  int32 // length of the token ending here, or 0
	// single: the token matches only outside words (single_word).
	single bool
}

// newTrie builds a trie of words; single[i] marks single_word tokens
// (single may be nil).
func newTrie(words []string, single []bool) *trie {
	t := &trie{nodes: []trieNode{{}}}
	for wi, w := range words {
		if w == "" {
			continue
		}
		t.first[w[0]] = true
		n := int32(0)
		for i := 0; i < len(w); i++ {
			nx, ok := t.nodes[n].next[w[i]]
			if !ok {
				if t.nodes[n].next == nil {
					t.nodes[n].next = map[byte]int32{}
				}
				nx = int32(len(t.nodes))
				t.nodes = append(t.nodes, trieNode{})
				t.nodes[n].next[w[i]] = nx
			}
			n = nx
		}
		t.nodes[n].end = int32(len(w))
		t.nodes[n].single = single != nil && single[wi]
	}
	return t
}

func (t *trie) empty() bool { return len(t.nodes) == 1 }

// split cuts text into the longest matches of the words and the text between
// them, appending the pieces to dst.
func (t *trie) split(text string, dst []string) []string {
	if t.empty() {
		return append(dst, text)
	}
	start := 0
	for i := 0; i < len(text); {
		if !t.first[text[i]] {
			i++
			continue
		}
		n := int32(0)
		match, single := 0, false
		for j := i; j < len(text); j++ {
			nx, ok := t.nodes[n].next[text[j]]
			if !ok {
				break
			}
			n = nx
			if e := t.nodes[n].end; e != 0 {
				match, single = int(e), t.nodes[n].single
			}
		}
		if match == 0 {
			i++
			continue
		}
		if single && !standsAlone(text, i, i+match) {
			i += match // as Hugging Face's Rust code: the match is dropped
			continue
		}
		if i > start {
			dst = append(dst, text[start:i])
		}
		dst = append(dst, text[i:i+match])
		i += match
		start = i
	}
	if start < len(text) {
		dst = append(dst, text[start:])
	}
	return dst
}

// standsAlone reports whether text[i:j] has no word character just before
// or just after it.
func standsAlone(text string, i, j int) bool {
	if i > 0 {
		r, _ := utf8.DecodeLastRuneInString(text[:i])
		if isWordRune(r) {
			return false
		}
	}
	if j < len(text) {
		r, _ := utf8.DecodeRuneInString(text[j:])
		if isWordRune(r) {
			return false
		}
	}
	return true
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}
