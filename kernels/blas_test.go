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

// TestBackendNoAllocs checks that steady-state calls on every backend (the
// foreign call into a system BLAS included) reuse their packing buffers and
// goroutines and allocate nothing, on one thread and on two, plain and
// with A transposed over a deeper k.
func TestBackendNoAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("coverage and the race detector allocate on their own")
	}
	forEachBackend(t, func(t *testing.T) {
		for _, tc := range []struct {
			transA, transB bool
			m, n, k        int
		}{{false, true, 96, 80, 72}, {true, false, 96, 80, 172}} {
			a, b, c := make([]float32, tc.m*tc.k), make([]float32, tc.k*tc.n), make([]float32, tc.m*tc.n)
			lda, ldb := tc.k, tc.n
			if tc.transA {
				lda = tc.m
			}
			if tc.transB {
				ldb = tc.k
			}
			call := func() { Gemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, a, lda, b, ldb, 0, c, tc.n) }
			for _, threads := range []int{1, 2} {
				prev := SetThreads(threads)
				call()
				allocs := testing.AllocsPerRun(50, call)
				SetThreads(prev)
				if allocs != 0 {
					t.Errorf("%+v, threads=%d: %v allocations per call, want 0", tc, threads, allocs)
				}
			}
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
