package kernels

import (
	"math/rand/v2"
	"testing"
)

// TestBackendsLargeMatchReference runs products whose every dimension
// exceeds the sizes a backend hands back to Go, so that its own path (not the Go fallback
// for thin products) is checked against the float64 reference, with both
// thread counts.
func TestBackendsLargeMatchReference(t *testing.T) {
	forEachBackend(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, sz := range [][3]int{{65, 65, 65}, {130, 97, 200}, {257, 70, 129}, {64, 300, 300}, {100, 100, 10}, {97, 301, 517}} {
			for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				for si, ab := range [][2]float32{{1, 0}, {-0.5, 0.75}, {2, 1}} {
					tc := gemmCase{transA: tr[0], transB: tr[1], m: sz[0], n: sz[1], k: sz[2], alpha: ab[0], beta: ab[1]}
					if si == 1 {
						tc.padA, tc.padB, tc.padC = 3, 1, 5
					}
					for _, threads := range []int{1, 2} {
						prev := SetThreads(threads)
						runCase(t, tc, rng)
						SetThreads(prev)
					}
				}
			}
		}
	})
}

// TestBackendNoAllocs checks that a call on every backend, the foreign call
// into a system BLAS included, allocates nothing in the steady state.
func TestBackendNoAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("coverage and the race detector allocate on their own")
	}
	forEachBackend(t, func(t *testing.T) {
		m, n, k := 96, 80, 72
		a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		Gemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
		if allocs := testing.AllocsPerRun(50, func() { Gemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n) }); allocs != 0 {
			t.Errorf("%v allocations per call, want 0", allocs)
		}
	})
}

// TestGemmBackendsListed checks that GemmBackends lists every backend in
// order of preference, marks exactly one selected, and that the portable
// kernel is always available.
func TestGemmBackendsListed(t *testing.T) {
	list := GemmBackends()
	if len(list) != len(backendOrder) {
		t.Fatalf("GemmBackends() = %+v, want %d entries", list, len(backendOrder))
	}
	sel := 0
	for i, b := range list {
		if b.Name != backendOrder[i] {
			t.Errorf("entry %d is %q, want %q", i, b.Name, backendOrder[i])
		}
		if b.Selected {
			sel++
			if !b.Available {
				t.Errorf("%s is selected but unavailable", b.Name)
			}
		}
		if !b.Available && b.Reason == "" {
			t.Errorf("%s is unavailable with no reason", b.Name)
		}
	}
	if sel != 1 {
		t.Errorf("%d backends selected, want 1", sel)
	}
	if last := list[len(list)-1]; !last.Available {
		t.Errorf("the portable kernel is unavailable: %+v", last)
	}
	if _, err := probeBackend("fortran"); err == nil {
		t.Error(`probeBackend("fortran") succeeded`)
	}
}
