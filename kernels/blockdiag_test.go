package kernels

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestGemmBlockDiag checks GemmBlockDiag on every backend and every
// assembly kernel this CPU runs, forced: each chunk bit for bit what Gemm
// computes for it on that backend (a system BLAS's routine being the
// small backend's, within rounding of its Gemm), within rounding of the
// float64 reference, on one and two threads, with rows around the AVX-512 kernel's
// sliver (whole slivers, a ragged one a short kernel holds exactly, one it
// holds with rows to spare, one it does not hold), padded row strides and
// rows 4 KiB apart (not read in place).
// Where the AVX-512 kernel can read the operands in place it must take the
// call itself (the path the test is for), for the asm backend and for a
// system BLAS's.
func TestGemmBlockDiag(t *testing.T) {
	backends := blockDiagBackends(t)
	cases := []struct{ rows, n, b, padX, padY int }{
		{1, 3, 32, 0, 0}, {13, 2, 32, 0, 5}, {14, 1, 32, 0, 0}, {18, 3, 32, 3, 0}, {22, 2, 32, 0, 0},
		{17, 2, 32, 0, 0}, {26, 2, 32, 0, 0}, {70, 4, 32, 1, 1}, {100, 2, 64, 0, 0}, {64, 5, 16, 0, 0},
		{40, 3, 8, 0, 2}, {512, 3, 32, 0, 0}, {20, 32, 32, 0, 0},
	}
	for _, bk := range backends {
		t.Run(bk.name+"/"+bk.detail, func(t *testing.T) {
			useBackend(t, bk)
			for _, tc := range cases {
				width := tc.n * tc.b
				ldx, ldy := width+tc.padX, width+tc.padY
				x := make([]float32, tc.rows*ldx)
				blocks := make([]float32, tc.n*tc.b*tc.b)
				for i := range x {
					x[i] = float32((i*7)%23-11) / 8
				}
				for i := range blocks {
					blocks[i] = float32((i*5)%19-9) / 16
				}
				want := make([]float32, tc.rows*ldy)
				for i := range tc.n {
					Gemm(false, false, tc.rows, tc.b, tc.b, 1, x[i*tc.b:], ldx, blocks[i*tc.b*tc.b:], tc.b, 0, want[i*tc.b:], ldy)
				}
				name := fmt.Sprintf("%d rows, %d blocks of %d, strides %d/%d", tc.rows, tc.n, tc.b, ldx, ldy)
				for _, threads := range []int{1, 2} {
					func() {
						defer SetThreads(SetThreads(threads))
						y := make([]float32, tc.rows*ldy)
						for i := range y {
							y[i] = float32(math.NaN()) // every chunk value must be written
						}
						GemmBlockDiag(tc.rows, tc.n, tc.b, x, ldx, blocks, y, ldy)
						for r := range tc.rows {
							for c := range width {
								got, w := y[r*ldy+c], want[r*ldy+c]
								if bk.name != "blas" && math.Float32bits(got) != math.Float32bits(w) {
									t.Fatalf("%s, %d threads: y[%d][%d] = %g, Gemm on the chunk gives %g", name, threads, r, c, got, w)
								}
								i := c / tc.b
								var ref float64
								for p := range tc.b {
									ref += float64(x[r*ldx+i*tc.b+p]) * float64(blocks[i*tc.b*tc.b+p*tc.b+c%tc.b])
								}
								if math.Abs(float64(got)-ref) > 1e-4*(1+math.Abs(ref)) {
									t.Fatalf("%s, %d threads: y[%d][%d] = %g, reference %g", name, threads, r, c, got, ref)
								}
							}
						}
					}()
				}
				if bk.blockDiag == nil {
					continue
				}
				takes := bk.blockDiag(tc.rows, tc.n, tc.b, x, ldx, blocks, make([]float32, tc.rows*ldy), ldy)
				rem := tc.rows % 14
				eligible := strings.HasPrefix(kernelOf(bk), "avx512") && tc.b%32 == 0 && tc.rows >= 14 && (rem == 0 || rem <= 8) && ldx*4%4096 != 0
				if takes != eligible {
					t.Errorf("%s: the %s kernel took the call: %v, want %v", name, bk.detail, takes, eligible)
				}
			}
		})
	}
}

// TestGemmBlockDiagGrad checks GemmBlockDiagGrad on every backend and
// every assembly kernel this CPU runs, forced: within rounding of the
// float64 reference, added to the gradient already there, bit for bit the
// same on one and two threads, over one and several panels of rows
// (asmGradRows) and padded row strides; where the AVX-512 kernel's short
// kernel can read the operands in place it must take the call itself.
func TestGemmBlockDiagGrad(t *testing.T) {
	backends := blockDiagBackends(t)
	cases := []struct{ rows, n, b, padX, padY int }{
		{1, 3, 32, 0, 0}, {7, 2, 32, 0, 5}, {128, 3, 32, 0, 0}, {129, 2, 32, 3, 1}, {300, 2, 64, 0, 0},
		{200, 5, 16, 0, 0}, {50, 3, 8, 0, 2}, {512, 3, 32, 0, 0},
	}
	for _, bk := range backends {
		t.Run(bk.name+"/"+bk.detail, func(t *testing.T) {
			useBackend(t, bk)
			for _, tc := range cases {
				width := tc.n * tc.b
				ldx, ldy := width+tc.padX, width+tc.padY
				x, dy := make([]float32, tc.rows*ldx), make([]float32, tc.rows*ldy)
				for i := range x {
					x[i] = float32((i*7)%23-11) / 8
				}
				for i := range dy {
					dy[i] = float32((i*5)%19-9) / 16
				}
				start := make([]float32, tc.n*tc.b*tc.b)
				for i := range start {
					start[i] = float32(i%5) - 2
				}
				name := fmt.Sprintf("%d rows, %d blocks of %d, strides %d/%d", tc.rows, tc.n, tc.b, ldx, ldy)
				var first []float32
				for _, threads := range []int{1, 2} {
					func() {
						defer SetThreads(SetThreads(threads))
						grad := append([]float32(nil), start...)
						GemmBlockDiagGrad(tc.rows, tc.n, tc.b, x, ldx, dy, ldy, grad)
						if first == nil {
							first = grad
						}
						for idx, got := range grad {
							i, r, c := idx/(tc.b*tc.b), idx/tc.b%tc.b, idx%tc.b
							ref := float64(start[idx])
							for p := range tc.rows {
								ref += float64(x[p*ldx+i*tc.b+r]) * float64(dy[p*ldy+i*tc.b+c])
							}
							if math.Abs(float64(got)-ref) > 1e-5*float64(tc.rows)*(1+math.Abs(ref)) {
								t.Fatalf("%s, %d threads: block %d [%d][%d] = %g, reference %g", name, threads, i, r, c, got, ref)
							}
							if math.Float32bits(got) != math.Float32bits(first[idx]) {
								t.Fatalf("%s: block %d [%d][%d] = %g on %d threads, %g on one", name, i, r, c, got, threads, first[idx])
							}
						}
					}()
				}
				if bk.blockDiagGrad == nil {
					continue
				}
				takes := bk.blockDiagGrad(tc.rows, tc.n, tc.b, x, ldx, dy, ldy, append([]float32(nil), start...))
				eligible := strings.HasPrefix(kernelOf(bk), "avx512") && tc.b%32 == 0
				if takes != eligible {
					t.Errorf("%s: the %s kernel took the call: %v, want %v", name, bk.detail, takes, eligible)
				}
			}
		})
	}
}

// blockDiagBackends lists the backends this process loads and the
// assembly kernels this CPU runs, each forced.
func blockDiagBackends(t *testing.T) []backend {
	backends := availableBackends(t)
	for _, isa := range []string{"avx512", "avx2", "neon"} {
		if b, err := probeBackend("asm:" + isa); err == nil {
			backends = append(backends, b)
		}
	}
	return backends
}

// TestGemmBlockDiagRefuses: operands too short or strides too narrow panic
// with a message naming the function and the operand.
func TestGemmBlockDiagRefuses(t *testing.T) {
	x, blocks := make([]float32, 4*64), make([]float32, 2*32*32)
	for _, tc := range []struct {
		name, want string
		call       func()
	}{
		{"short y", "GemmBlockDiag: y has", func() { GemmBlockDiag(4, 2, 32, x, 64, blocks, make([]float32, 3*64), 64) }},
		{"short blocks", "GemmBlockDiag: 2 blocks", func() { GemmBlockDiag(4, 2, 32, x, 64, blocks[:1024], make([]float32, 4*64), 64) }},
		{"narrow stride", "GemmBlockDiag: 4 rows", func() { GemmBlockDiag(4, 2, 32, x, 63, blocks, make([]float32, 4*64), 64) }},
		{"short dy", "GemmBlockDiagGrad: dy has", func() { GemmBlockDiagGrad(4, 2, 32, x, 64, make([]float32, 100), 64, blocks) }},
		{"short x", "GemmBlockDiagGrad: x has", func() { GemmBlockDiagGrad(5, 2, 32, x, 64, make([]float32, 5*64), 64, blocks) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, tc.want) {
					t.Errorf("panic %q, want one containing %q", msg, tc.want)
				}
			}()
			tc.call()
		})
	}
}

// kernelOf names the kernel that computes a backend's products by a
// block-diagonal matrix: the small backend's for a system BLAS.
func kernelOf(bk backend) string {
	if bk.name == "blas" {
		return small.detail
	}
	return bk.detail
}
