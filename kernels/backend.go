package kernels

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// A backend is one implementation of the packed GEMM. Gemm dispatches to the
// selected one once its arguments are checked and the degenerate cases are
// handled; every backend must honour the beta = 0 rule and leave C outside
// its m×n window alone.
type backend struct {
	name   string // "blas", "asm", "simd" or "go"
	detail string // the library loaded, the instruction set used
	gemm   func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	// blockDiag, if set, computes GemmBlockDiag's checked arguments with
	// the same results as Gemm on each chunk, or returns false, having done
	// nothing, for a call it does not take.
	blockDiag func(rows, n, b int, x []float32, ldx int, blocks []float32, y []float32, ldy int) bool
	// blockDiagGrad, if set, computes GemmBlockDiagGrad's checked
	// arguments, or returns false, having done nothing.
	blockDiagGrad func(rows, n, b int, x []float32, ldx int, dy []float32, ldy int, grad []float32) bool
}

// Backend describes one GEMM implementation and whether this process can
// use it, for `orthotune env`.
type Backend struct {
	Name      string `json:"name"`             // "blas", "asm", "simd" or "go"
	Detail    string `json:"detail,omitempty"` // library and kernel family, or instruction set
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"` // why it is unavailable
	Selected  bool   `json:"selected"`         // Gemm uses it
}

// GemmEnv is the environment variable that forces a backend: "blas",
// "asm", "simd" or "go", or one assembly micro-kernel for every product:
// "asm:avx512", "asm:avx2" (amd64) or "asm:neon" (arm64), where the CPU
// has its instructions. Unset or empty picks the first available in that
// order: a system BLAS where one is installed (OpenBLAS 0.3.21 matched the
// assembly kernels on one Zen 5 core and was about a fifth faster on two),
// else the assembly micro-kernels where the CPU has their instructions,
// else the GOEXPERIMENT=simd kernel where built in, else the portable Go
// kernel.
const GemmEnv = "ORTHOTUNE_GEMM"

var backendOrder = []string{"blas", "asm", "simd", "go"}

func probeBackend(name string) (backend, error) {
	switch name {
	case "blas":
		return blasBackend()
	case "asm":
		return asmBackend()
	case "simd":
		return simdBackend()
	case "go":
		return backend{name: "go", detail: "portable", gemm: gemmGo}, nil
	}
	if isa, ok := strings.CutPrefix(name, "asm:"); ok {
		return asmBackendFor(isa)
	}
	return backend{}, fmt.Errorf("unknown backend %q (want blas, asm, asm:ISA, simd or go)", name)
}

// small is the backend for the products a system BLAS is not worth calling
// for (gemmSmall), and for the block-diagonal ones it has no routine for:
// the assembly kernels where the CPU has them, else the SIMD kernel when it
// is built in and the CPU has it, else the portable kernel.
var small = backend{name: "go", detail: "portable", gemm: gemmGo}

func init() {
	for _, probe := range []func() (backend, error){asmBackend, simdBackend} {
		if b, err := probe(); err == nil {
			small = b
			return
		}
	}
}

// gemmSmall computes a product with the small backend.
func gemmSmall(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	small.gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// selected is the backend Gemm dispatches to, and selectedWhy why.
var (
	selected    = backend{name: "go", detail: "portable", gemm: gemmGo}
	selectedWhy = "no other backend available"
)

func init() {
	want := strings.TrimSpace(os.Getenv(GemmEnv))
	var forced string // why the forced backend was not used
	if want != "" {
		b, err := probeBackend(want)
		if err == nil {
			selected, selectedWhy = b, "forced by "+GemmEnv+"="+want+asmWhy(b)
			return
		}
		// A forced backend that cannot load is reported (here, and by
		// GemmKernelReason for `orthotune env`), not fatal: the others
		// compute the same products.
		slog.Warn("kernels: cannot use the requested GEMM backend; using the fastest available", "env", GemmEnv+"="+want, "err", err)
		forced = GemmEnv + "=" + want + " cannot be used (" + err.Error() + "); "
	}
	var skipped []string
	for _, name := range backendOrder {
		b, err := probeBackend(name)
		if err != nil {
			skipped = append(skipped, name+": "+err.Error())
			continue
		}
		selected = b
		selectedWhy = forced + "first available in the order " + strings.Join(backendOrder, ", ")
		if len(skipped) > 0 {
			selectedWhy += " (" + strings.Join(skipped, "; ") + ")"
		}
		selectedWhy += asmWhy(b)
		return
	}
}

// asmWhy says, for the assembly backend, why it runs the kernel it does
// (unless forced by name).
func asmWhy(b backend) string {
	if b.name != "asm" || strings.HasSuffix(b.detail, ", forced") {
		return ""
	}
	return "; " + b.detail + " kernel: " + asmKernelWhy()
}

// GemmKernelReason says why Gemm uses the backend GemmKernel names: forced
// by ORTHOTUNE_GEMM, or the first available in order of preference, with
// why each one before it cannot be used.
func GemmKernelReason() string { return selectedWhy }

// GemmKernel names the GEMM implementation in use, with its detail, e.g.
// "blas (libopenblas.so.0)", "asm (avx2)", "simd (avx512)" or
// "go (portable)".
func GemmKernel() string { return selected.name + " (" + selected.detail + ")" }

// GemmBackends lists every GEMM implementation, in order of preference, with
// whether it can be used here and which one Gemm uses.
func GemmBackends() []Backend {
	var out []Backend
	for _, name := range backendOrder {
		b, err := probeBackend(name)
		info := Backend{Name: name, Detail: b.detail, Available: err == nil, Selected: name == selected.name}
		if err != nil {
			info.Reason = err.Error()
		}
		out = append(out, info)
	}
	return out
}
