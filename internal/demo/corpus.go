package demo

import (
	"fmt"
	"strings"

	"github.com/orthotune/orthotune/tensor"
)

var (
	animals    = []string{"cat", "dog", "fox", "owl", "horse", "mouse", "bird", "frog", "bear", "goat", "duck", "wolf"}
	adjectives = []string{"small", "big", "old", "young", "quick", "slow", "happy", "quiet", "brave", "sleepy"}
	places     = []string{"house", "garden", "forest", "river", "hill", "field", "barn", "lake", "road", "park"}
	preps      = []string{"in", "near", "behind", "under", "by"}
	verbs      = []string{"sleeps", "runs", "sits", "plays", "waits", "eats", "sings", "hides"}
	people     = []string{"anna", "ben", "clara", "david", "emma", "felix", "grace", "henry", "iris", "jack"}
	colors     = []string{"red", "blue", "green", "yellow", "white", "black", "brown", "orange"}
	objects    = []string{"ball", "hat", "cup", "kite", "book", "door", "boat", "coat", "box", "lamp", "chair", "bag"}
	numbers    = []string{"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}
	likes      = []string{"likes", "has", "sees", "finds", "wants", "carries"}
)

func pick(r *tensor.RNG, words []string) string { return words[r.IntN(len(words))] }

// Corpus returns n paragraphs of the demo world's text, the same for the
// same seed. Paragraphs are a few sentences each; sentence kinds are
// mixed so that every word appears in several contexts.
func Corpus(n int, seed uint64) []string {
	r := tensor.NewRNG(seed)
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for s := 0; s < 3+r.IntN(3); s++ {
			if s > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(sentence(r))
		}
		out[i] = b.String()
	}
	return out
}

func sentence(r *tensor.RNG) string {
	switch r.IntN(7) {
	case 0:
		return fmt.Sprintf("the %s %s %s %s the %s.", pick(r, adjectives), pick(r, animals), pick(r, verbs), pick(r, preps), pick(r, places))
	case 1:
		return fmt.Sprintf("%s %s a %s %s.", pick(r, people), pick(r, likes), pick(r, colors), pick(r, objects))
	case 2:
		k := 1 + r.IntN(len(numbers)-1)
		return fmt.Sprintf("%s has %s %ss.", pick(r, people), numbers[k], pick(r, objects))
	case 3:
		start := r.IntN(len(numbers) - 3)
		return strings.Join(numbers[start:start+3+r.IntN(len(numbers)-start-2)], " ") + "."
	case 4:
		return fmt.Sprintf("the %s is %s the %s.", pick(r, objects), pick(r, preps), pick(r, places))
	case 5:
		return fmt.Sprintf("%s and %s walk to the %s.", pick(r, people), pick(r, people), pick(r, places))
	default:
		return fmt.Sprintf("the %s %s is %s.", pick(r, colors), pick(r, objects), pick(r, adjectives))
	}
}

// Fact is one thing the fine-tuning task teaches: an object's colour.
type Fact struct{ Object, Color string }

// Facts are the task's facts: every object gets a fixed colour.
func Facts() []Fact {
	out := make([]Fact, len(objects))
	for i, o := range objects {
		out[i] = Fact{Object: o, Color: colors[(i*5+3)%len(colors)]}
	}
	return out
}

// Prefixes introduce the task's statements; the last one is held out for
// evaluation. Each prompt ends "OBJECT =", a form the base text never
// uses, so the task adds a behaviour rather than contradicting one the
// base model has.
var Prefixes = []string{"color check:", "what color?", "colors again:"}

// Prompt is the task's prompt for an object under prefix number i.
func Prompt(i int, object string) string { return fmt.Sprintf("%s %s =", Prefixes[i], object) }

// Record is a prompt/completion pair.
type Record struct {
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
}

// Task returns the fine-tuning set (every fact under every prefix but the
// last, repeated reps times so an epoch is long enough to batch) and the
// evaluation set (every fact under the last prefix).
func Task(reps int) (trainSet, evalSet []Record) {
	for _, f := range Facts() {
		for i := range Prefixes {
			rec := Record{Prompt: Prompt(i, f.Object), Completion: " " + f.Color + "."}
			if i == len(Prefixes)-1 {
				evalSet = append(evalSet, rec)
				continue
			}
			for range reps {
				trainSet = append(trainSet, rec)
			}
		}
	}
	return trainSet, evalSet
}
