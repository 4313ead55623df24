//go:build linux || darwin || freebsd

package kernels

import (
	"fmt"
	"os"
	"runtime"
	"sync"

	"github.com/ebitengine/purego"
)

// A system BLAS, loaded at run time with purego (no cgo): OpenBLAS, MKL,
// BLIS, or Apple's Accelerate. For now it is used only when
// ORTHOTUNE_GEMM=blas asks for it; products with a dimension of at most
// blasMinDim (LoRA's rank, OFT's blocks) stay in Go, where the foreign
// call's overhead would dominate.

const blasMinDim = 64

// CBLAS enum values.
const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
)

var blasLibraries = map[string][]string{
	"linux":   {"libopenblas.so.0", "libopenblas.so", "libmkl_rt.so", "libmkl_rt.so.2", "libblis.so.4", "libblis.so"},
	"freebsd": {"libopenblas.so.0", "libopenblas.so", "libblis.so.4"},
	"darwin":  {"/System/Library/Frameworks/Accelerate.framework/Accelerate", "libopenblas.dylib"},
}

var (
	blasOnce     sync.Once
	blasErr      error
	blasLib      string
	cblasSgemm   func(order, transA, transB, m, n, k int32, alpha float32, a *float32, lda int32, b *float32, ldb int32, beta float32, c *float32, ldc int32)
	blasThreads  func(n int32)
	blasThreadsN int
)

// loadBLAS finds and binds a system BLAS once.
func loadBLAS() error {
	blasOnce.Do(func() {
		for _, name := range blasLibraries[runtime.GOOS] {
			h, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_GLOBAL)
			if err != nil {
				continue
			}
			if _, err := purego.Dlsym(h, "cblas_sgemm"); err != nil {
				continue
			}
			purego.RegisterLibFunc(&cblasSgemm, h, "cblas_sgemm")
			for _, setter := range []string{"openblas_set_num_threads", "MKL_Set_Num_Threads", "bli_thread_set_num_threads"} {
				if _, err := purego.Dlsym(h, setter); err == nil {
					purego.RegisterLibFunc(&blasThreads, h, setter)
					break
				}
			}
			blasLib = name
			return
		}
		blasErr = fmt.Errorf("no system BLAS found (tried %v)", blasLibraries[runtime.GOOS])
	})
	return blasErr
}

func init() {
	if os.Getenv("ORTHOTUNE_GEMM") != "blas" {
		return
	}
	if err := loadBLAS(); err != nil {
		fmt.Fprintf(os.Stderr, "orthotune: ORTHOTUNE_GEMM=blas: %v; using the Go kernel\n", err)
		return
	}
	gemmImpl, gemmName = gemmBLAS, "blas ("+blasLib+")"
}

func gemmBLAS(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if min(m, n, k) <= blasMinDim {
		gemmGo(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if blasThreads != nil && blasThreadsN != Threads() {
		blasThreadsN = Threads()
		blasThreads(int32(blasThreadsN))
	}
	ta, tb := int32(cblasNoTrans), int32(cblasNoTrans)
	if transA {
		ta = cblasTrans
	}
	if transB {
		tb = cblasTrans
	}
	cblasSgemm(cblasRowMajor, ta, tb, int32(m), int32(n), int32(k), alpha, &a[0], int32(lda), &b[0], int32(ldb), beta, &c[0], int32(ldc))
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
}
