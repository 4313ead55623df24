//go:build linux || darwin || freebsd

package kernels

import (
	"math/rand/v2"
	"os"
	"testing"
)

// TestBLASMatchesReference runs the system BLAS path (products whose every
// dimension exceeds blasMinDim) against the float64 reference. CI installs
// OpenBLAS and sets ORTHOTUNE_REQUIRE_BLAS=1, so there the library must be
// found; elsewhere a machine without one has nothing to test.
func TestBLASMatchesReference(t *testing.T) {
	if err := loadBLAS(); err != nil {
		if os.Getenv("ORTHOTUNE_REQUIRE_BLAS") != "" {
			t.Fatalf("ORTHOTUNE_REQUIRE_BLAS is set: %v", err)
		}
		t.Skipf("%v", err)
	}
	t.Logf("BLAS: %s", blasLib)
	useBackend(t, gemmBLAS)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sz := range [][3]int{{65, 65, 65}, {130, 97, 200}, {257, 70, 129}, {64, 300, 300}, {100, 100, 10}} {
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
}
