//go:build linux || darwin || freebsd

package kernels

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ebitengine/purego"
	"golang.org/x/sys/cpu"
)

// A system BLAS, loaded at run time with purego (no cgo): OpenBLAS, MKL,
// BLIS, or Apple's Accelerate. Tiny products (see blasMinVolume) stay in
// Go, where the foreign call's overhead would dominate.
//
// The call goes to the Fortran-interface sgemm_, whose every argument is a
// pointer: purego.SyscallN passes integer-class arguments only (it cannot
// place cblas_sgemm's float alpha and beta in vector registers), and its
// generic RegisterLibFunc path allocates on every call. The arguments live in
// a pooled block, so a call allocates nothing. Row-major C = op(A)·op(B) is
// column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, so the operands swap places.

// blasMinVolume is the least m·n·k sent to the library. The issue this
// backend was written for expected a foreign call to cost about 1 µs and
// asked that thin products (LoRA's rank, OFT's blocks of b ≤ 64) stay in Go.
// The call turned out much cheaper than expected, and the library beats the
// portable kernel at every shape training uses, OFT's block rotations,
// attention's tiles and LoRA's thin products included; BENCHMARKS.md has
// the measurements. Only truly tiny products stay in Go.
const blasMinVolume = 16 * 16 * 16

var blasLibraries = map[string][]string{
	"linux":   {"libopenblas.so.0", "libopenblas.so", "libmkl_rt.so.2", "libmkl_rt.so", "libblis.so.4", "libblis.so"},
	"freebsd": {"libopenblas.so.0", "libopenblas.so", "libblis.so.4"},
	"darwin":  {"/System/Library/Frameworks/Accelerate.framework/Accelerate", "libopenblas.dylib"},
}

var (
	blasOnce    sync.Once
	blasErr     error
	blasLib     string
	sgemmFn     uintptr      // sgemm_
	blasThreads uintptr      // openblas_set_num_threads & co., taking an int by value; 0 if absent
	blasThrN    atomic.Int32 // what the library was last told; 0: not yet
)

// loadBLAS finds and binds a system BLAS once.
func loadBLAS() error {
	blasOnce.Do(func() {
		for _, name := range blasLibraries[runtime.GOOS] {
			if strings.Contains(name, "openblas") {
				pinOpenBLASEnv()
			}
			h, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_GLOBAL)
			if err != nil {
				continue
			}
			fn, err := purego.Dlsym(h, "sgemm_")
			if err != nil {
				continue
			}
			sgemmFn = fn
			for _, setter := range []string{"openblas_set_num_threads", "MKL_Set_Num_Threads", "bli_thread_set_num_threads"} {
				if fn, err := purego.Dlsym(h, setter); err == nil {
					blasThreads = fn
					break
				}
			}
			blasLib = name
			if _, err := purego.Dlsym(h, "openblas_get_corename"); err == nil {
				var corename func() string
				purego.RegisterLibFunc(&corename, h, "openblas_get_corename")
				blasLib += ", " + corename()
			}
			return
		}
		blasErr = fmt.Errorf("no system BLAS found (tried %v)", blasLibraries[runtime.GOOS])
	})
	return blasErr
}

// Threads. The library runs single-threaded on the calling goroutine's
// thread, and orthotune spreads the work itself (BENCHMARKS.md has the
// measurements behind each choice):
//   - a product called from inside one of orthotune's parallel loops (one
//     per attention head, one per OFT block) runs as it is, the loop
//     already keeping every core busy; OpenBLAS's thread pool would
//     serialise such concurrent callers, which is much slower;
//   - any other product is split into strips of C that goroutines hand to
//     the library concurrently;
//   - except a very large one (blasThreadedVolume) with nothing else
//     running, which uses the library's own threads: they share the packed
//     operands, where each strip packs its own copy of the other operand,
//     and so compute it faster. Only rare products are that large, so the
//     library's idle threads, which spin for a while after each call and
//     would take cores from the goroutines (a training step was markedly
//     slower when every product used them), matter little; their spin is
//     also cut short (OPENBLAS_THREAD_TIMEOUT, see pinOpenBLASEnv).

// blasStrip is the granularity of a strip of C, a multiple of every
// library's register tile, and blasGrain roughly the least work (m·n·k)
// worth a goroutine of its own.
const (
	blasStrip          = 64
	blasGrain          = 64 * 64 * 64
	blasThreadedVolume = 1 << 30
)

// blasJob carries one product to ParallelFor's goroutines; pooled with its
// run method bound once, so that a call allocates nothing.
type blasJob struct {
	transA, transB bool
	splitRows      bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	run            func(lo, hi int)
}

var blasPool = sync.Pool{New: func() any {
	j := new(blasJob)
	j.run = j.do
	return j
}}

func gemmBLAS(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	vol := m * n * k
	switch {
	case vol < blasMinVolume:
		gemmSmall(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	case parallelDepth.Load() > 0: // inside a parallel loop
		setBLASThreads(1)
		sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	case vol >= blasThreadedVolume:
		setBLASThreads(Threads())
		sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	setBLASThreads(1)
	j := blasPool.Get().(*blasJob)
	*j = blasJob{transA: transA, transB: transB, splitRows: m >= n, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc, run: j.run}
	units := (max(m, n) + blasStrip - 1) / blasStrip
	unitWork := blasStrip * min(m, n) * k
	ParallelFor(units, 1+blasGrain/unitWork, j.run)
	*j = blasJob{run: j.run} // drop references to the caller's matrices
	blasPool.Put(j)
}

// do computes the strip [lo, hi) of blasStrip-row (or column) bands of C.
func (j *blasJob) do(lo, hi int) {
	i0, i1, j0, j1 := 0, j.m, 0, j.n
	if j.splitRows {
		i0, i1 = lo*blasStrip, min(hi*blasStrip, j.m)
	} else {
		j0, j1 = lo*blasStrip, min(hi*blasStrip, j.n)
	}
	// Offsets of the sub-matrices: rows i0… of op(A), columns j0… of op(B).
	aOff, bOff := i0*j.lda, j0
	if j.transA {
		aOff = i0
	}
	if j.transB {
		bOff = j0 * j.ldb
	}
	sgemm(j.transA, j.transB, i1-i0, j1-j0, j.k, j.alpha, j.a[aOff:], j.lda, j.b[bOff:], j.ldb, j.beta, j.c[i0*j.ldc+j0:], j.ldc)
}

// sgemmArgs holds what sgemm_'s pointer arguments point at, and the
// argument list itself: a variadic list built at the call would escape
// (SyscallN is go:uintptrescapes) and allocate.
type sgemmArgs struct {
	transA, transB byte
	m, n, k        int32
	lda, ldb, ldc  int32
	alpha, beta    float32
	args           [13]uintptr
}

var sgemmPool = sync.Pool{New: func() any { return new(sgemmArgs) }}

// sgemm calls the library once for row-major operands.
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	p := sgemmPool.Get().(*sgemmArgs)
	*p = sgemmArgs{transA: 'N', transB: 'N', m: int32(n), n: int32(m), k: int32(k),
		lda: int32(ldb), ldb: int32(lda), ldc: int32(ldc), alpha: alpha, beta: beta}
	if transB { // column-major first operand is op(B)ᵀ
		p.transA = 'T'
	}
	if transA {
		p.transB = 'T'
	}
	// A, B and C are kept alive explicitly, and a goroutine's stack does
	// not move while it is in a foreign call.
	p.args = [13]uintptr{
		uintptr(unsafe.Pointer(&p.transA)), uintptr(unsafe.Pointer(&p.transB)),
		uintptr(unsafe.Pointer(&p.m)), uintptr(unsafe.Pointer(&p.n)), uintptr(unsafe.Pointer(&p.k)),
		uintptr(unsafe.Pointer(&p.alpha)),
		uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(&p.lda)),
		uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(&p.ldb)),
		uintptr(unsafe.Pointer(&p.beta)),
		uintptr(unsafe.Pointer(unsafe.SliceData(c))), uintptr(unsafe.Pointer(&p.ldc)),
	}
	purego.SyscallN(sgemmFn, p.args[:]...)
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
	sgemmPool.Put(p)
}

// setBLASThreads tells the library how many threads to use when that
// differs from what it was last told. Concurrent callers all want one
// thread (see gemmBLAS), so the race between them is harmless.
func setBLASThreads(n int) {
	if blasThreads == 0 || int(blasThrN.Load()) == n {
		return
	}
	blasThrN.Store(int32(n))
	purego.SyscallN(blasThreads, uintptr(n))
}

// blasBackend returns the system BLAS backend, or an error saying why there
// is none.
func blasBackend() (backend, error) {
	if err := loadBLAS(); err != nil {
		return backend{}, err
	}
	// The products by a block-diagonal matrix are made of small ones, which
	// the small backend's routines compute from the operands in place.
	return backend{name: "blas", detail: blasLib, gemm: gemmBLAS, blockDiag: small.blockDiag, blockDiagGrad: small.blockDiagGrad}, nil
}

// pinOpenBLASEnv sets, in the C environment the library reads as it
// loads (Go's os.Setenv does not reach it without cgo), what the user has
// not set:
//
//   - OPENBLAS_CORETYPE, its kernel family, from the CPU's features.
//     OpenBLAS builds with DYNAMIC_ARCH pick kernels by CPU model, and a
//     model newer than the library (or one a hypervisor disguises) falls
//     back to the SSE3 "Prescott" kernels, far slower than the AVX-512 or
//     AVX2 ones the CPU can run (BENCHMARKS.md has a measurement).
//   - OPENBLAS_THREAD_TIMEOUT, how long its idle threads spin before
//     sleeping: 2^28 cycles by default, a tenth of a second in which they
//     hold cores orthotune's goroutines need. 2^20 cycles (~0.4 ms) keeps them for
//     back-to-back products only.
func pinOpenBLASEnv() {
	if runtime.GOOS != "linux" {
		return
	}
	var core string
	switch {
	case runtime.GOARCH != "amd64":
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512DQ:
		core = "SkylakeX"
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		core = "Haswell"
	}
	libc, err := purego.Dlopen("libc.so.6", purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return
	}
	if _, err := purego.Dlsym(libc, "setenv"); err != nil {
		return
	}
	var setenv func(name, value string, overwrite int32) int32
	purego.RegisterLibFunc(&setenv, libc, "setenv")
	if core != "" && os.Getenv("OPENBLAS_CORETYPE") == "" {
		setenv("OPENBLAS_CORETYPE", core, 0)
	}
	if os.Getenv("OPENBLAS_THREAD_TIMEOUT") == "" {
		setenv("OPENBLAS_THREAD_TIMEOUT", "20", 0)
	}
}
