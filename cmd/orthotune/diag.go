package main

import (
	"sort"
	"strconv"
	"unicode"

	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/orth"
)

// The helpers here reshape data for library diagnostics that have no
// exact counterpart in the library yet (see the notes on each).

// neuronEnergy is the hyperspherical energy of a linear layer's neurons.
func neuronEnergy(l *nn.Linear) float64 {
	return orth.HypersphericalEnergy(l.NeuronRows(), l.Out, l.In)
}

// naturalSort orders module names with their numbers compared as numbers
// (layers.2 before layers.10).
func naturalSort(names []string) {
	sort.SliceStable(names, func(i, j int) bool { return naturalLess(names[i], names[j]) })
}

func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, _ := strconv.ParseUint(a[:da], 10, 64)
			nb, _ := strconv.ParseUint(b[:db], 10, 64)
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && unicode.IsDigit(rune(s[n])) {
		n++
	}
	return n
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
