package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// sentinel fills the parts of A, B and C slices outside their matrices so
// that reads of them poison the result and writes to them are detected.
const sentinel = float32(-7.25e9)

// gemmCase is one Gemm call: shapes, transposes, scalars and the padding of
// each leading dimension beyond the stored row length.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	padA, padB     int // lda, ldb = stored columns + pad
	padC           int // ldc = n + padC
}

func (tc gemmCase) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s/%dx%dx%d/a=%g/b=%g/pad=%d,%d,%d",
		t(tc.transA), t(tc.transB), tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.padA, tc.padB, tc.padC)
}

// gemmOperands holds random operands for a case, stored with their leading
// dimensions and surrounded by sentinels.
type gemmOperands struct {
	a, b, c       []float32
	lda, ldb, ldc int
}

func newOperands(tc gemmCase, rng *rand.Rand) gemmOperands {
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	o := gemmOperands{lda: ac + tc.padA, ldb: bc + tc.padB, ldc: tc.n + tc.padC}
	// fill makes a rows×cols matrix with stride ld, plus one spare row of
	// sentinels, and sets the window with set.
	fill := func(rows, cols, ld int, set func() float32) []float32 {
		x := make([]float32, (rows+1)*ld)
		for i := range x {
			x[i] = sentinel
		}
		for i := range rows {
			for j := range cols {
				x[i*ld+j] = set()
			}
		}
		return x
	}
	uniform := func() float32 { return rng.Float32()*2 - 1 }
	o.a = fill(ar, ac, o.lda, uniform)
	o.b = fill(br, bc, o.ldb, uniform)
	initC := uniform
	if tc.beta == 0 {
		initC = func() float32 { return float32(math.NaN()) }
	}
	o.c = fill(tc.m, tc.n, o.ldc, initC)
	return o
}

// refGemm computes alpha·op(A)·op(B) + beta·C in float64 and, for each
// element, the scale |alpha|·Σ|a||b| + |beta·c| that bounds its rounding
// error. beta = 0 ignores C.
func refGemm(tc gemmCase, o gemmOperands) (want, scale []float64) {
	opA := func(i, p int) float64 {
		if tc.transA {
			return float64(o.a[p*o.lda+i])
		}
		return float64(o.a[i*o.lda+p])
	}
	opB := func(p, j int) float64 {
		if tc.transB {
			return float64(o.b[j*o.ldb+p])
		}
		return float64(o.b[p*o.ldb+j])
	}
	want = make([]float64, tc.m*tc.n)
	scale = make([]float64, tc.m*tc.n)
	for i := range tc.m {
		for j := range tc.n {
			var s, sa float64
			for p := range tc.k {
				x := opA(i, p) * opB(p, j)
				s += x
				sa += math.Abs(x)
			}
			w := float64(tc.alpha) * s
			sc := math.Abs(float64(tc.alpha)) * sa
			if tc.beta != 0 {
				bc := float64(tc.beta) * float64(o.c[i*o.ldc+j])
				w += bc
				sc += math.Abs(bc)
			}
			want[i*tc.n+j], scale[i*tc.n+j] = w, sc
		}
	}
	return want, scale
}

// checkC compares got (C after the call) against the reference: within
// (k+4)·ε₃₂ of each element's scale inside the window, and bit-for-bit equal
// to before outside it.
func checkC(t *testing.T, tc gemmCase, before, got []float32, ldc int, want, scale []float64) {
	t.Helper()
	const eps32 = 1.0 / (1 << 23)
	tol := float64(tc.k+4) * eps32
	bad := 0
	for idx := range got {
		i, j := idx/ldc, idx%ldc
		if i >= tc.m || j >= tc.n {
			if math.Float32bits(got[idx]) != math.Float32bits(before[idx]) {
				t.Fatalf("%v: C[%d] (row %d, col %d) outside the %d×%d window changed from %g to %g",
					tc, idx, i, j, tc.m, tc.n, before[idx], got[idx])
			}
			continue
		}
		w, g := want[i*tc.n+j], float64(got[idx])
		if math.Abs(g-w) > tol*scale[i*tc.n+j]+1e-30 || math.IsNaN(g) {
			if bad++; bad <= 5 {
				t.Errorf("%v: C[%d,%d] = %g, want %g (tolerance %g)", tc, i, j, g, w, tol*scale[i*tc.n+j])
			}
		}
	}
	if bad > 5 {
		t.Errorf("%v: %d wrong elements in all", tc, bad)
	}
}

func runCase(t *testing.T, tc gemmCase, rng *rand.Rand) {
	t.Helper()
	o := newOperands(tc, rng)
	want, scale := refGemm(tc, o)
	before := slices.Clone(o.c)
	Gemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, o.c, o.ldc)
	checkC(t, tc, before, o.c, o.ldc, want, scale)
}

// TestGemmMatchesReference checks all four transpose combinations against a
// float64 reference over sizes that hit the direct path, the packed path,
// partial micro-tiles and partial cache blocks in every dimension, with
// padded leading dimensions and several alpha and beta values.
func TestGemmMatchesReference(t *testing.T) { forEachBackend(t, testGemmMatchesReference) }

func testGemmMatchesReference(t *testing.T) {
	sizes := [][3]int{ // m, n, k
		// Direct path (see useDirect): tiny, shallow k, m ≤ 2, n ≤ 2.
		{1, 1, 1}, {1, 7, 3}, {2, 3, 1}, {4, 4, 4}, {40, 50, 3},
		{2, 70, 50}, {1, 33, 300}, {130, 2, 90}, {3, 1, 5}, {200, 1, 300},
		// Packed path: partial micro-tiles and partial cache blocks in
		// every dimension.
		{3, 3, 9}, {17, 17, 17}, {20, 20, 20}, {65, 3, 130}, {5, 65, 130},
		{33, 40, 41}, {64, 64, 64}, {130, 65, 17}, {131, 70, blockK + 1},
		{7, 9, 2*blockK + 3}, {blockM + mr + 1, nr + 1, 33}, {6, blockN + nr + 1, 9},
		// The assembly kernels' tiles (6×16, 14×32, 8×12) whole and ragged,
		// their unrolled loops' tails (k mod 4) and panels of k after the
		// first (kc 576 and 256); TestAsmBlockEdges goes through each
		// kernel's blocking one value either side.
		{6, 16, 4}, {14, 32, 5}, {8, 12, 6}, {13, 31, 7}, {15, 33, 193},
		{29, 65, 257}, {43, 97, 385}, {85, 26, 513}, {29, 40, 577},
	}
	scalars := [][2]float32{{1, 0}, {1, 1}, {-0.5, 0.75}, {2, 0}, {0.25, -1}}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range sizes {
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			for si, ab := range scalars {
				tc := gemmCase{
					transA: tr[0], transB: tr[1],
					m: sz[0], n: sz[1], k: sz[2],
					alpha: ab[0], beta: ab[1],
				}
				if si%2 == 1 { // half the cases with padded leading dimensions
					tc.padA, tc.padB, tc.padC = 3, 1, 5
				}
				runCase(t, tc, rng)
			}
		}
	}
}

// TestGemmZeroSizes checks that m, n or k = 0 is accepted with empty or nil
// slices, and that k = 0 and alpha = 0 reduce to C = beta·C.
func TestGemmZeroSizes(t *testing.T) { forEachBackend(t, testGemmZeroSizes) }

func testGemmZeroSizes(t *testing.T) {
	Gemm(false, false, 0, 5, 3, 1, nil, 3, make([]float32, 15), 5, 0, nil, 5)
	Gemm(false, false, 5, 0, 3, 1, make([]float32, 15), 3, nil, 0, 0, nil, 0)
	Gemm(true, true, 0, 0, 0, 1, nil, 0, nil, 0, 0, nil, 0)

	nan := float32(math.NaN())
	for _, tc := range []struct {
		name        string
		k           int
		alpha, beta float32
		c, want     []float32
	}{
		{"k=0,beta=0", 0, 1, 0, []float32{nan, 1, nan, 2}, []float32{0, 0, 0, 0}},
		{"k=0,beta=2", 0, 1, 2, []float32{1, 2, 3, 4}, []float32{2, 4, 6, 8}},
		{"alpha=0,beta=1", 2, 0, 1, []float32{1, 2, 3, 4}, []float32{1, 2, 3, 4}},
		{"alpha=0,beta=0", 2, 0, 0, []float32{nan, nan, nan, nan}, []float32{0, 0, 0, 0}},
	} {
		// A and B hold NaN: with k = 0 or alpha = 0 they must not be read.
		a := []float32{nan, nan, nan, nan}
		b := []float32{nan, nan, nan, nan}
		Gemm(false, false, 2, 2, tc.k, tc.alpha, a, 2, b, 2, tc.beta, tc.c, 2)
		if !slices.Equal(tc.c, tc.want) {
			t.Errorf("%s: C = %v, want %v", tc.name, tc.c, tc.want)
		}
	}
}

// TestGemmPropagatesNaN checks that a NaN in A poisons its row of C and an
// infinity in B its column, even when the rest of the row or column of the
// other operand is zero, on both the direct and the packed path.
func TestGemmPropagatesNaN(t *testing.T) { forEachBackend(t, testGemmPropagatesNaN) }

func testGemmPropagatesNaN(t *testing.T) {
	for _, sz := range [][3]int{{2, 5, 6}, {6, 5, 4}, {4, 5, 6}, {70, 50, 300}, {90, 8, 200}} {
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			m, n, k := sz[0], sz[1], sz[2]
			tc := gemmCase{transA: tr[0], transB: tr[1], m: m, n: n, k: k, alpha: 1, beta: 0}
			rng := rand.New(rand.NewPCG(3, 4))
			o := newOperands(tc, rng)
			// Zero A and B so that only the special values can make a non-zero.
			for _, x := range [][]float32{o.a, o.b} {
				for i := range x {
					if x[i] != sentinel {
						x[i] = 0
					}
				}
			}
			// NaN at op(A)[ri, rp], +Inf at op(B)[bp, cj].
			ri, rp, bp, cj := m/2, k/3, k-1, n-2
			if tc.transA {
				o.a[rp*o.lda+ri] = float32(math.NaN())
			} else {
				o.a[ri*o.lda+rp] = float32(math.NaN())
			}
			if tc.transB {
				o.b[cj*o.ldb+bp] = float32(math.Inf(1))
			} else {
				o.b[bp*o.ldb+cj] = float32(math.Inf(1))
			}
			Gemm(tc.transA, tc.transB, m, n, k, 1, o.a, o.lda, o.b, o.ldb, 0, o.c, o.ldc)
			for i := range m {
				for j := range n {
					got := float64(o.c[i*o.ldc+j])
					// Row ri: NaN·0 = NaN. Column cj: 0·Inf = NaN.
					if want := i == ri || j == cj; math.IsNaN(got) != want {
						t.Errorf("%v: C[%d,%d] = %g, want NaN: %v", tc, i, j, got, want)
					}
				}
			}
		}
	}
}

// TestGemmThreadsDeterministic checks that results are bit-for-bit
// identical whatever the number of threads: every element of C sees the
// same sequence of float32 operations however C is split.
func TestGemmThreadsDeterministic(t *testing.T) {
	useBackend(t, backend{name: "go", gemm: gemmGo})
	defer SetThreads(SetThreads(1))
	for _, tc := range []gemmCase{
		{m: 300, n: 70, k: 300, alpha: 1, beta: 0},                             // split over rows
		{transA: true, m: 30, n: 500, k: 70, alpha: 0.5, beta: 1},              // split over columns
		{transB: true, m: 131, n: 129, k: blockK + 7, alpha: -1, beta: 0.5},    // both, odd
		{transA: true, transB: true, m: 64, n: 2100, k: 33, alpha: 1, beta: 0}, // n > blockN
		{m: 1, n: 3000, k: 200, alpha: 1, beta: 0},                             // direct, split over columns
		{transB: true, m: 900, n: 2, k: 200, alpha: 1, beta: 0.5},              // direct, split over rows
	} {
		checkSameOverThreads(t, tc)
	}
}

func TestGemmPanics(t *testing.T) {
	buf := make([]float32, 100)
	for _, tc := range []struct {
		name string
		call func()
	}{
		{"negative m", func() { Gemm(false, false, -1, 2, 2, 1, buf, 2, buf, 2, 0, buf, 2) }},
		{"short A", func() { Gemm(false, false, 11, 2, 10, 1, buf, 10, buf, 2, 0, buf, 2) }},
		{"short B", func() { Gemm(false, true, 2, 11, 10, 1, buf, 10, buf, 10, 0, buf, 11) }},
		{"short C", func() { Gemm(false, false, 2, 2, 2, 1, buf, 2, buf, 2, 0, buf[:3], 2) }},
		{"lda too small", func() { Gemm(true, false, 4, 2, 2, 1, buf, 3, buf, 2, 0, buf, 2) }},
		{"ldc too small", func() { Gemm(false, false, 2, 4, 2, 1, buf, 2, buf, 4, 0, buf, 3) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.call()
		})
	}
}

// TestParallelForCoversAll checks that ParallelFor calls fn on disjoint
// chunks that cover [0, n) exactly once, respects minChunk and the thread
// count, and copes with nesting.
func TestParallelForCoversAll(t *testing.T) {
	defer SetThreads(SetThreads(1))
	for _, threads := range []int{1, 2, 3, 8} {
		SetThreads(threads)
		for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 10, 64, 1000} {
			for _, minChunk := range []int{0, 1, 3, 4, 100} {
				hits := make([]atomic.Int32, n)
				var calls atomic.Int32
				ParallelFor(n, minChunk, func(lo, hi int) {
					calls.Add(1)
					if lo >= hi || lo < 0 || hi > n {
						t.Errorf("bad chunk [%d, %d) of %d", lo, hi, n)
						return
					}
					if hi-lo < minChunk && hi != n {
						t.Errorf("chunk [%d, %d) shorter than minChunk %d", lo, hi, minChunk)
					}
					for i := lo; i < hi; i++ {
						hits[i].Add(1)
					}
				})
				for i := range hits {
					if h := hits[i].Load(); h != 1 {
						t.Fatalf("threads=%d n=%d minChunk=%d: index %d visited %d times", threads, n, minChunk, i, h)
					}
				}
				if c := int(calls.Load()); c > threads || (n == 0 && c != 0) {
					t.Errorf("threads=%d n=%d minChunk=%d: %d chunks", threads, n, minChunk, c)
				}
			}
		}
	}

	// Nested calls must neither deadlock nor lose work.
	SetThreads(2)
	var total atomic.Int64
	ParallelFor(8, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ParallelFor(100, 1, func(lo, hi int) { total.Add(int64(hi - lo)) })
		}
	})
	if got := total.Load(); got != 800 {
		t.Errorf("nested ParallelFor covered %d items, want 800", got)
	}
}

// TestUseDirect pins down which path the table-driven tests exercise, so
// that a change to the dispatch rule cannot silently leave a path untested.
func TestUseDirect(t *testing.T) {
	for _, tc := range []struct {
		transA, transB bool
		m, n, k        int
		want           bool
	}{
		{false, false, 4, 4, 4, true},
		{true, true, 40, 50, 3, true},
		{false, false, 2, 70, 50, true},
		{true, true, 2, 70, 50, false},
		{false, true, 130, 2, 90, true},
		{false, false, 130, 2, 90, false},
		{false, false, 3, 3, 9, false},
		{false, false, 512, 768, 3072, false},
	} {
		if got := useDirect(tc.transA, tc.transB, tc.m, tc.n, tc.k); got != tc.want {
			t.Errorf("useDirect(%v, %v, %d, %d, %d) = %v, want %v", tc.transA, tc.transB, tc.m, tc.n, tc.k, got, tc.want)
		}
	}
}

// useBackend makes Gemm dispatch to b for the rest of the test.
func useBackend(t testing.TB, b backend) {
	saved := selected
	selected = b
	t.Cleanup(func() { selected = saved })
}

// availableBackends lists the backends this process can load. CI installs
// OpenBLAS and sets ORTHOTUNE_REQUIRE_BLAS=1, so there a missing system BLAS
// fails the test instead of shrinking the list; ORTHOTUNE_REQUIRE_SIMD does
// the same for the SIMD kernel.
func availableBackends(t testing.TB) []backend {
	var out []backend
	for _, name := range backendOrder {
		b, err := probeBackend(name)
		if err != nil {
			if env := "ORTHOTUNE_REQUIRE_" + strings.ToUpper(name); os.Getenv(env) != "" {
				t.Fatalf("%s is set but the %s backend cannot load: %v", env, name, err)
			}
			continue
		}
		out = append(out, b)
	}
	return out
}

// forEachBackend runs fn as a subtest once per available backend, with Gemm
// dispatching to it.
func forEachBackend(t *testing.T, fn func(t *testing.T)) {
	for _, b := range availableBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			useBackend(t, b)
			fn(t)
		})
	}
}

// checkSameOverThreads runs tc with 1 to 4 threads on the selected backend
// and fails unless every result is bit-for-bit the single-thread one.
func checkSameOverThreads(t *testing.T, tc gemmCase) {
	t.Helper()
	var results [][]float32
	for _, threads := range []int{1, 2, 3, 4} {
		SetThreads(threads)
		o := newOperands(tc, rand.New(rand.NewPCG(5, 6)))
		Gemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, o.c, o.ldc)
		results = append(results, o.c)
	}
	for i, r := range results[1:] {
		for idx := range r {
			if math.Float32bits(r[idx]) != math.Float32bits(results[0][idx]) {
				t.Fatalf("%v: element %d with %d threads is %g, with 1 thread %g", tc, idx, i+2, r[idx], results[0][idx])
			}
		}
	}
}

// TestConcurrently: every index runs once, each on its own goroutine at
// the same time. While all n run on n threads, ParallelFor runs its whole
// range in place; once all but one have returned, the last one's
// ParallelFor runs on n goroutines, a loop nested in it in place, and its
// products equal the one computed outside either way.
func TestConcurrently(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3} {
		func() {
			defer SetThreads(SetThreads(max(n, 1)))
			const m, k = 70, 50
			a, b := make([]float32, m*k), make([]float32, k*m)
			for i := range a {
				a[i], b[i] = float32(i%7)-3, float32(i%5)-2
			}
			want := make([]float32, m*m)
			Gemm(false, false, m, m, k, 1, a, k, b, m, 0, want, m)
			checkProduct := func(when string) {
				got := make([]float32, m*m)
				Gemm(false, false, m, m, k, 1, a, k, b, m, 0, got, m)
				for j := range got {
					if got[j] != want[j] {
						t.Errorf("n=%d: product element %d = %g inside Concurrently (%s), %g outside", n, j, got[j], when, want[j])
						return
					}
				}
			}
			countChunks := func(fn func(lo, hi int)) int {
				var chunks atomic.Int32
				ParallelFor(100, 1, func(lo, hi int) {
					chunks.Add(1)
					fn(lo, hi)
				})
				return int(chunks.Load())
			}
			hits := make([]atomic.Int32, n)
			var arrived, checked atomic.Int32
			allRunning, allChecked := make(chan struct{}), make(chan struct{})
			Concurrently(n, func(i int) {
				hits[i].Add(1)
				if arrived.Add(1) == int32(n) {
					close(allRunning)
				}
				<-allRunning
				if c := countChunks(func(lo, hi int) {}); n > 1 && c != 1 {
					t.Errorf("n=%d: ParallelFor ran %d chunks while all %d goroutines ran on %d threads", n, c, n, n)
				}
				checkProduct("all running")
				if checked.Add(1) == int32(n) {
					close(allChecked)
				}
				<-allChecked
				if i != 0 || n < 2 {
					return
				}
				for running.Load() > 1 {
					runtime.Gosched() // until the others have returned
				}
				c := countChunks(func(lo, hi int) {
					if inner := countChunks(func(lo, hi int) {}); inner != 1 {
						t.Errorf("n=%d: a ParallelFor nested in a helped one ran %d chunks, want 1 (every core lent)", n, inner)
					}
				})
				if c != n {
					t.Errorf("n=%d: ParallelFor ran %d chunks after the other goroutines returned, want %d", n, c, n)
				}
				checkProduct("helped")
			})
			for i := range hits {
				if h := hits[i].Load(); h != 1 {
					t.Errorf("n=%d: index %d ran %d times", n, i, h)
				}
			}
			if r, l := running.Load(), lent.Load(); r != 0 || l != 0 {
				t.Errorf("n=%d: after Concurrently, %d goroutines counted running and %d cores lent", n, r, l)
			}
		}()
	}
}

// runBlockEdgeSizes checks each size (m, n, k) against the reference in all
// four transpose combinations with three alpha/beta pairs, the second with
// padded leading dimensions, on one and two threads by turns: the
// block-edge tests of the assembly and SIMD micro-kernels.
func runBlockEdgeSizes(t *testing.T, sizes [][3]int) {
	t.Helper()
	runBlockEdgeSizesTrans(t, sizes, [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}})
}

// runBlockEdgeSizesTrans is runBlockEdgeSizes in the given (transA,
// transB) combinations only.
func runBlockEdgeSizesTrans(t *testing.T, sizes [][3]int, transposes [][2]bool) {
	t.Helper()
	scalars := [][2]float32{{1, 0}, {-0.5, 0.75}, {2, 1}}
	rng := rand.New(rand.NewPCG(7, 8))
	defer SetThreads(SetThreads(1))
	for _, sz := range sizes {
		for _, tr := range transposes {
			for si, ab := range scalars {
				tc := gemmCase{
					transA: tr[0], transB: tr[1],
					m: sz[0], n: sz[1], k: sz[2],
					alpha: ab[0], beta: ab[1],
				}
				if si == 1 {
					tc.padA, tc.padB, tc.padC = 3, 5, 7
				}
				SetThreads(1 + si%2)
				runCase(t, tc, rng)
			}
		}
	}
}
