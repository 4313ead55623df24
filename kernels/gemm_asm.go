//go:build (amd64 || arm64) && !purego

package kernels

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The assembly backend ("asm") is a Goto/BLIS blocked GEMM like the portable
// one, in the default build: packing and blocking in Go, register-blocked
// micro-kernels in Go assembly (gemm_asm_amd64.s: AVX2+FMA and AVX-512F;
// gemm_asm_arm64.s: NEON), chosen at run time from the CPU's features.
//
// Loop order, outermost first: panels of nc columns of op(B) (jc); panels
// of up to kc steps of k (pc, of equal depths: asmKernel.depth), for which
// a block of op(B) is packed into slivers of nr columns; groups of rows of
// op(A) (ic), packed into slivers of mr rows; then units of mc rows by a
// few slivers of B, in which for each sliver of A (ir) the micro-kernel
// sweeps the unit's slivers of B (jr), the unit's block of B kept in L2
// (and, for the AVX2 kernel, the sliver of A in L1; see the kernels'
// blocking). The micro-kernel writes its mr×nr tile straight
// into C, applying alpha and, on the first panel of k, beta; later panels
// add to C. The ragged last sliver of A goes to a short kernel of fewer
// rows where the kernel has one (asmKernel.short); other tiles at the
// ragged edges of C are computed by the micro-kernel into a scratch tile,
// from slivers padded with zeros.
//
// Goroutines pack each panel together and then share out its units (see
// gemmAsmWith). Every element of C sees the same sequence of operations
// whichever goroutine computes it: the tiles lie on the same grid and the
// panels of k are the same and reach it in order, whatever the number of
// threads, and the lanes of a tile are computed independently. So results
// do not depend on Threads().

// An asmKernel is one register-blocked micro-kernel and its cache blocking.
type asmKernel struct {
	name   string // instruction set: "avx2", "avx512" or "neon"
	mr, nr int    // rows and columns of C per micro-tile
	// kc is the greatest depth of a panel of k (depth cuts a product's k
	// into panels of equal depth up to it; packed slivers of A keep rows
	// kc apart), mc the rows of op(A) packed at a time (a multiple of mr)
	// and nc the columns of op(B) (a multiple of nr).
	kc, mc, nc int
	// micro computes the mr×nr tile T = alpha·Σ_p a[p]ᵀ·b[p] over kc ≥ 1
	// steps of a packed sliver of A (kc steps of mr values) and one of B
	// (kc steps of nr values), and writes it into C at c, whose rows are
	// ldc bytes apart, as mode says. ab holds alpha and beta.
	micro func(a, b *float32, kc int, c *float32, ldc uintptr, ab *[2]float32, mode asmMode)
	// rowsA says that micro also reads a sliver of A packed as mr rows of
	// kc values, this kernel's kc apart (packARowsAsm), when mode has
	// asmRowsA. A row-major A packs that way with one copy a row instead
	// of a gather.
	rowsA bool
	// directA says that micro also reads whole slivers of a row-major A
	// in place, when mode has asmDirectA: no packing for them.
	directA bool
	// directB says that micro (and the short kernels) also read whole
	// slivers of a row-major B in place, when mode has asmDirectB.
	directB bool
	// short, if set, computes a sliver of A with fewer than mr rows (the
	// ragged last one of a product): height rows of nr columns, from a
	// sliver laid out as micro's (row r at a + r·aRow bytes, step p at
	// a + p·aStep; B's step p at b + p·bStep, packed or in place), of
	// which it writes the first rows ≤ height into C as mode (asmSet,
	// asmScale or asmAdd) says. Every element sees the same operations
	// as in micro.
	short func(a, b *float32, kc int, c *float32, ldc uintptr, ab *[2]float32, mode asmMode, rows int, aRow, aStep, bStep uintptr, height int)
	// shortHeights are the heights short computes, increasing; a ragged
	// sliver goes to the first that holds it, or, past them all, to micro
	// through a scratch tile.
	shortHeights []int
	// narrow, if set, is the kernel gemmAsm uses instead for products of
	// at most narrow.nr columns, which would waste most of this one's
	// tiles.
	narrow *asmKernel
}

// depth returns the depth of the panels of k a product of depth k is cut
// into: as few as kr.kc allows, of equal depths but the last (k's panels
// then all run the kernel's loop about as long, and none is a short
// remainder whose tile of C costs as much to write as a whole panel's).
func (kr *asmKernel) depth(k int) int {
	panels := max(1, (k+kr.kc-1)/kr.kc)
	return (k + panels - 1) / panels
}

// shortFor returns the least of kr's short heights that holds h rows, or
// 0 if none does.
func (kr *asmKernel) shortFor(h int) int {
	for _, height := range kr.shortHeights {
		if height >= h {
			return height
		}
	}
	return 0
}

// An asmMode says how a micro-kernel writes its tile T = alpha·A·B into C.
type asmMode int

const (
	asmSet   asmMode = iota // C = T, without reading C (first panel, beta = 0)
	asmScale                // C = beta·C + T (first panel): fma(beta, C, T)
	asmAdd                  // C = C + T (later panels)

	// asmWrite masks a mode down to the write above.
	asmWrite asmMode = 3

	// asmRowsA, added to a mode, says that the sliver of A is packed by
	// packARowsAsm (only for kernels with rowsA).
	asmRowsA asmMode = 4
	// asmDirectA, added to a mode instead, says that the micro-kernel's a
	// is row 0 of a whole sliver of a row-major A in place, its rows
	// asmScalars.ldaBytes apart (only for kernels with directA).
	asmDirectA asmMode = 8
	// asmDirectB, added to a mode, says that the micro-kernel's b is row 0
	// of a whole sliver of a row-major B in place, its rows
	// asmScalars.ldbBytes apart (only for kernels with directB).
	asmDirectB asmMode = 16
)

// asmScalars is what a micro-kernel's ab points at: alpha and beta, then
// (read in asmDirectA mode, at byte 8) the row stride of A in bytes and
// (in asmDirectB mode, at byte 16) that of B.
type asmScalars struct {
	ab       [2]float32
	ldaBytes uintptr
	ldbBytes uintptr
}

// asmGrainFlops is the least work (2·m·n·k of a panel) worth handing to
// another goroutine.
const asmGrainFlops = 4 << 20

// asmBackend returns the assembly backend, or an error naming what the CPU
// lacks.
func asmBackend() (backend, error) {
	kr, err := asmKernelForCPU()
	if err != nil {
		return backend{}, err
	}
	return asmBackendWith(kr, kr.name), nil
}

// asmBackendWith returns the assembly backend computing every product it
// takes with kr, described as detail.
func asmBackendWith(kr *asmKernel, detail string) backend {
	return backend{name: "asm", detail: detail, gemm: func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		gemmAsm(kr, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}, blockDiag: func(rows, n, b int, x []float32, ldx int, blocks []float32, y []float32, ldy int) bool {
		return gemmAsmBlockDiag(kr, rows, n, b, x, ldx, blocks, y, ldy)
	}, blockDiagGrad: func(rows, n, b int, x []float32, ldx int, dy []float32, ldy int, grad []float32) bool {
		return gemmAsmBlockDiagGrad(kr, rows, n, b, x, ldx, dy, ldy, grad)
	}}
}

// asmBackendFor returns the assembly backend with the micro-kernel for isa
// ("avx512", "avx2", "neon") computing every product it takes, or an error
// if this build has no such kernel or the CPU lacks its instructions.
func asmBackendFor(isa string) (backend, error) {
	for _, kr := range asmKernels() {
		if kr.name == isa {
			only := *kr
			only.narrow = nil
			return asmBackendWith(&only, isa+", forced"), nil
		}
	}
	return backend{}, fmt.Errorf("no %s micro-kernel for this CPU (it runs: %s)", isa, asmKernelNames())
}

// asmKernelNames lists the micro-kernels this CPU runs.
func asmKernelNames() string {
	var names []string
	for _, kr := range asmKernels() {
		names = append(names, kr.name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// gemmAsm is the assembly backend with kernel kr. It expects arguments
// checked by Gemm, with m, n, k > 0 and alpha ≠ 0. Vector–matrix products
// (one row of C, or at most two columns) go to the portable kernel's direct
// path, as fast there: a micro-tile would be mostly padding. Products of
// few columns go to kr.narrow where there is one, and small products with a
// row-major B to gemmAsmUnpacked where it takes them.
func gemmAsm(kr *asmKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 1 || n <= 2 {
		gemmGo(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if kr.shortFor(n) > 0 && m > asmUnpackedMax {
		gemmAsmTransposed(kr, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if kr.narrow != nil && n <= kr.narrow.nr {
		kr = kr.narrow
	}
	if !transB && gemmAsmUnpacked(kr, transA, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
		return
	}
	gemmAsmWith(kr, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmAsmTransposed computes a product of many rows and at most as many
// columns as one of kr's short kernels has rows — LoRA's rank-8 products,
// X·Aᵀ, dYᵀ·H and dY·B — as its transpose, Cᵀ = op(B)ᵀ·op(A)ᵀ, into a
// scratch of n rows, which it then writes into C transposed. Computed
// directly, each micro-tile of such a product is mostly padding and goes
// through a scratch tile (8 of the AVX2 kernel's 16 columns, 25–36
// GFLOP/s on one Zen 5 core); transposed, its rows are one short
// kernel's sliver and op(A), the large operand, is read in place where it
// is transposed and packed in slivers of 32 columns where it is not
// (one core: 576×8×512 (A transposed) 28 → 148 GFLOP/s, 512×8×576 (B
// transposed) 34 → 76). Its results do not depend on Threads(), as
// gemmAsmWith's do not; they may differ in rounding from a product of
// more columns computed the other way.
func gemmAsmTransposed(kr *asmKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	_ = c[(m-1)*ldc+n-1]
	sp := asmTransPool.Get().(*[]float32)
	if cap(*sp) < 2*n*m {
		*sp = make([]float32, 2*n*m)
	}
	t, u := (*sp)[:n*m], (*sp)[n*m:2*n*m]
	// op(B)ᵀ is B itself where B is transposed, and op(A)ᵀ likewise.
	gemmAsmWith(kr, !transB, !transA, n, m, k, alpha, b, ldb, a, lda, 0, t, m)
	// Cᵀ's columns as rows of u (m×n), 8×8 blocks at a time where n is 8
	// (the rank of most adapters), then written into C as beta says.
	i0 := 0
	if n == 8 && packTranspose8 != nil {
		i0 = m / 8 * 8
		packTranspose8(&u[0], 32, &t[0], uintptr(m)*4, m/8)
	}
	for i := i0; i < m; i++ {
		for jj := range n {
			u[i*n+jj] = t[jj*m+i]
		}
	}
	for i := range m {
		row, ui := c[i*ldc:i*ldc+n], u[i*n:i*n+n]
		switch beta {
		case 0:
			copy(row, ui)
		case 1:
			Add(row, ui)
		default:
			for jj := range row {
				row[jj] = beta*row[jj] + ui[jj]
			}
		}
	}
	asmTransPool.Put(sp)
}

// asmTransPool holds gemmAsmTransposed's scratch (a pointer to a slice:
// putting a slice in a Pool allocates).
var asmTransPool = sync.Pool{New: func() any { return new([]float32) }}

// asmUnpackedMax bounds the rows and columns of the products
// gemmAsmUnpacked computes.
const asmUnpackedMax = 64

// gemmAsmUnpacked computes a product of few rows and columns and a
// row-major B — OFT's block gradients, 32×32 over every token — with kr's
// short kernel, 8 rows at a time (4 the last), reading both operands in place, each tile
// summed over a panel of k in registers: there packing cost about as much
// as the product, each packed value serving one or two tiles. Its results
// are gemmAsmWith's bit for bit (the same panels of k, each element's
// operations in the same order). It returns false,
// having done nothing, for a product it does not take: more than
// asmUnpackedMax rows or columns, rows not a multiple of 4, columns not a
// multiple of nr, no such short kernels, or operand rows a multiple of 4 KiB
// apart (they would share the L1's sets). It runs on the calling goroutine.
func gemmAsmUnpacked(kr *asmKernel, transA bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) bool {
	if kr.shortFor(8) != 8 || kr.shortFor(4) != 4 ||
		m > asmUnpackedMax || n > asmUnpackedMax || m%4 != 0 || n%kr.nr != 0 ||
		lda*4%4096 == 0 || ldb*4%4096 == 0 {
		return false
	}
	// Bounds for every read and write below.
	aRow, aStep := uintptr(lda)*4, uintptr(4)
	if transA {
		_ = a[(k-1)*lda+m-1]
		aRow, aStep = 4, uintptr(lda)*4
	} else {
		_ = a[(m-1)*lda+k-1]
	}
	_ = b[(k-1)*ldb+n-1]
	_ = c[(m-1)*ldc+n-1]
	first := asmScale
	if beta == 0 {
		first = asmSet
	}
	// The scalars live in a pooled job: a local's address passed through
	// the kernel's function value would escape to the heap at every call.
	j := asmJobPool.Get().(*asmJob)
	defer asmJobPool.Put(j)
	sc := &j.sc
	sc.ab = [2]float32{alpha, beta}
	kc := kr.depth(k)
	for i := 0; i < m; i += 8 {
		height := min(8, m-i) // 8 or, last, 4
		for jj := 0; jj < n; jj += kr.nr {
			// k in kr's panels, each summed from zero and then added to
			// C, as gemmAsmWith does: the same results bit for bit.
			for pc := 0; pc < k; pc += kc {
				mode := asmAdd
				if pc == 0 {
					mode = first
				}
				off := i*lda + pc
				if transA {
					off = pc*lda + i
				}
				kr.short(&a[off], &b[pc*ldb+jj], min(kc, k-pc), &c[i*ldc+jj], uintptr(ldc)*4, &sc.ab, mode, height, aRow, aStep, uintptr(ldb)*4, height)
			}
		}
	}
	return true
}

// gemmAsmBlockDiag computes GemmBlockDiag with kr's micro-kernel reading
// both operands in place: for each sliver of mr rows of x, every block's
// tiles (k = b, one panel, as gemmAsm computes each chunk's product: the
// same results bit for bit), the ragged last sliver by the short kernel.
// Computed as one Gemm per block, each block's product swept every row of
// x and y, columns a few cache lines wide and rows thousands of bytes
// apart, for 2·b FLOPs a value: from memory that ran at about half the
// rate of the layers' own products. It returns false, having done nothing,
// where kr cannot read the operands in place (no such modes, blocks not a
// multiple of nr wide or deeper than kc, rows of x a multiple of 4 KiB
// apart), for fewer rows than a sliver, and for a ragged sliver no short
// kernel holds (one it holds with rows to spare it reads from a
// zero-padded copy).
func gemmAsmBlockDiag(kr *asmKernel, rows, n, b int, x []float32, ldx int, blocks []float32, y []float32, ldy int) bool {
	if !kr.directA || !kr.directB || b%kr.nr != 0 || b > kr.kc || ldx*4%4096 == 0 || b*4%4096 == 0 ||
		rows < kr.mr || kr.shortFor(rows%kr.mr) == 0 && rows%kr.mr != 0 {
		return false
	}
	j := asmBlockPool.Get().(*asmBlockJob)
	j.kern, j.rows, j.n, j.b, j.x, j.ldx, j.blocks, j.y, j.ldy = kr, rows, n, b, x, ldx, blocks, y, ldy
	j.sc = asmScalars{ab: [2]float32{1, 0}, ldaBytes: uintptr(ldx) * 4, ldbBytes: uintptr(b) * 4}
	slivers := (rows + kr.mr - 1) / kr.mr
	ParallelFor(slivers, 1+asmGrainFlops/(2*kr.mr*n*b*b), j.run)
	j.x, j.blocks, j.y = nil, nil, nil
	asmBlockPool.Put(j)
	return true
}

// asmBlockJob carries a gemmAsmBlockDiag or gemmAsmBlockDiagGrad call to
// ParallelFor's goroutines (for a gradient, blocks is the blocks' gradient
// and y the upstream one), pooled with its method values bound once (and
// its scalars, which the kernel reads through a pointer, on the heap
// once), so that calls do not allocate.
type asmBlockJob struct {
	kern                 *asmKernel
	rows, n, b, ldx, ldy int
	x, blocks, y         []float32
	sc                   asmScalars
	run, runGrad         func(lo, hi int) // do and doGrad
}

var asmBlockPool = sync.Pool{New: func() any {
	j := new(asmBlockJob)
	j.run, j.runGrad = j.do, j.doGrad
	return j
}}

// do computes the slivers [lo, hi) of rows of gemmAsmBlockDiag.
func (j *asmBlockJob) do(lo, hi int) {
	kr, b := j.kern, j.b
	mode := asmSet | asmDirectA | asmDirectB
	ldyBytes := uintptr(j.ldy) * 4
	for s := lo; s < hi; s++ {
		r := s * kr.mr
		h := min(kr.mr, j.rows-r)
		height := 0
		if h < kr.mr {
			height = kr.shortFor(h)
		}
		// Bounds for every read and write of the sliver below.
		_ = j.x[(r+h-1)*j.ldx+j.n*b-1]
		_ = j.y[(r+h-1)*j.ldy+j.n*b-1]
		x, aRow := j.x[r*j.ldx:], j.sc.ldaBytes
		var pad *[]float32
		if height > h {
			// The short kernel reads height rows: the sliver's h,
			// then zeros, from scratch.
			width := j.n * b
			pad = asmTransPool.Get().(*[]float32)
			if cap(*pad) < height*width {
				*pad = make([]float32, height*width)
			}
			x, aRow = (*pad)[:height*width], uintptr(width)*4
			for q := range h {
				copy(x[q*width:(q+1)*width], j.x[(r+q)*j.ldx:])
			}
			clear(x[h*width:])
		}
		for i := range j.n {
			a := &x[i*b]
			for jr := 0; jr < b; jr += kr.nr {
				bs, c := &j.blocks[i*b*b+jr], &j.y[r*j.ldy+i*b+jr]
				if height == 0 {
					kr.micro(a, bs, b, c, ldyBytes, &j.sc.ab, mode)
				} else {
					kr.short(a, bs, b, c, ldyBytes, &j.sc.ab, asmSet, h, aRow, 4, j.sc.ldbBytes, height)
				}
			}
		}
		if pad != nil {
			asmTransPool.Put(pad)
		}
	}
}

// asmGradRows is the panel of rows gemmAsmBlockDiagGrad sums across all
// the blocks before it moves on: 128 rows of a 576-wide x and dy are 576
// KiB, in L2.
const asmGradRows = 128

// gemmAsmBlockDiagGrad computes GemmBlockDiagGrad with kr's 8-row short
// kernel reading x (transposed) and dy in place: for each panel of up to
// asmGradRows rows, for each block, its tile of 8 rows by nr columns at a
// time, summed over the panel in registers and added to the gradient.
// Goroutines take ranges of blocks, so each block's sums run in the same
// order whatever the number of threads. Each block's product computed
// whole (one Gemm per block, every row) swept columns a few cache lines
// wide of rows thousands of bytes apart, from memory. It returns false,
// having done nothing, where kr has no 8-row short kernel, blocks are not
// a multiple of nr wide, or rows of x or dy are a multiple of 4 KiB apart.
func gemmAsmBlockDiagGrad(kr *asmKernel, rows, n, b int, x []float32, ldx int, dy []float32, ldy int, grad []float32) bool {
	if kr.shortFor(8) != 8 || b%kr.nr != 0 || b%8 != 0 || ldx*4%4096 == 0 || ldy*4%4096 == 0 {
		return false
	}
	j := asmBlockPool.Get().(*asmBlockJob)
	j.kern, j.rows, j.n, j.b, j.x, j.ldx, j.blocks, j.y, j.ldy = kr, rows, n, b, x, ldx, grad, dy, ldy
	j.sc = asmScalars{ab: [2]float32{1, 1}}
	ParallelFor(n, 1+asmGrainFlops/(2*rows*b*b), j.runGrad)
	j.x, j.blocks, j.y = nil, nil, nil
	asmBlockPool.Put(j)
	return true
}

// doGrad computes the blocks [lo, hi) of gemmAsmBlockDiagGrad.
func (j *asmBlockJob) doGrad(lo, hi int) {
	kr, b := j.kern, j.b
	_ = j.x[(j.rows-1)*j.ldx+hi*b-1] // bounds every read below
	_ = j.y[(j.rows-1)*j.ldy+hi*b-1]
	_ = j.blocks[hi*b*b-1]
	aStep, bStep := uintptr(j.ldx)*4, uintptr(j.ldy)*4
	for r := 0; r < j.rows; r += asmGradRows {
		k := min(asmGradRows, j.rows-r)
		for i := lo; i < hi; i++ {
			for g := 0; g < b; g += 8 {
				for jr := 0; jr < b; jr += kr.nr {
					kr.short(&j.x[r*j.ldx+i*b+g], &j.y[r*j.ldy+i*b+jr], k, &j.blocks[i*b*b+g*b+jr], uintptr(b)*4, &j.sc.ab, asmAdd, 8, 4, aStep, bStep, 8)
				}
			}
		}
	}
}

// gemmAsmWith computes the product with kernel kr, whatever its shape.
//
// For each panel of op(B) (jc, pc) and each group of up to asmRowsMax rows
// of op(A) (ic), the goroutines first pack the slivers of both operands
// together (pack: each claims slivers from a shared counter), then compute the
// tiles of C together (compute: each claims units of mc rows by ncu
// columns from a shared counter until none are left, so a goroutine slowed
// by anything else on its core is helped rather than waited for). Each
// operand is packed once whatever the number of threads, and ParallelFor's
// return separates the phases and the panels: the panels of k reach every
// tile of C one after another, in order.
func gemmAsmWith(kr *asmKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	j := asmJobPool.Get().(*asmJob)
	j.asmCall = asmCall{
		kern: kr, transA: transA, transB: transB,
		m: m, n: n, k: k,
		sc: asmScalars{ab: [2]float32{alpha, beta}, ldaBytes: uintptr(lda) * 4, ldbBytes: uintptr(ldb) * 4},
		a:  a, b: b, c: c,
		lda: lda, ldb: ldb, ldc: ldc,
	}
	// Whole slivers of a row-major A are read in place by a kernel that
	// can (no packing), unless its rows are a multiple of 4 KiB apart:
	// the sliver's rows would then share the L1's sets.
	j.directA = kr.directA && !transA && lda*4%4096 != 0
	// Whole slivers of a row-major B likewise: each step's nr values
	// are contiguous there, and the unit's block of B is brought into L2
	// by the first sliver of A that sweeps it, as a packed one would be.
	j.directB = kr.directB && !transB && ldb*4%4096 != 0
	rowsMax := asmRowsMax(kr)
	// A whose rows are packed in one group is packed once for every panel
	// of op(B) when there are several (the MLP's widening products, the
	// output head's 49152 columns: 48 packings of the same rows), all its
	// panels of k kept side by side.
	kc := kr.depth(k)
	perPanel := (min(m, rowsMax) + kr.mr - 1) / kr.mr * kr.mr * kr.kc
	keepA := m <= rowsMax && n > kr.nc
	needA := perPanel
	if keepA {
		needA *= (k + kc - 1) / kc
	}
	if len(j.packedA) < needA {
		j.packedA = alignedFloats64(needA)
	}
	if n := kr.kc * kr.nc; len(j.packedB) < n {
		j.packedB = alignedFloats64(n)
	}
	threads := Threads()
	for jc := 0; jc < n; jc += kr.nc {
		j.jc, j.nc = jc, min(kr.nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			j.pc, j.kc = pc, min(kc, k-pc)
			j.mode = asmAdd
			if pc == 0 {
				j.mode = asmScale
				if beta == 0 {
					j.mode = asmSet
				}
			}
			if !transA && kr.rowsA {
				j.mode |= asmRowsA
			}
			j.aOff = 0
			if keepA {
				j.aOff = pc / kc * perPanel
			}
			for ic := 0; ic < m; ic += rowsMax {
				j.ic, j.mcnt = ic, min(rowsMax, m-ic)
				j.slivA = (j.mcnt + kr.mr - 1) / kr.mr
				if keepA && jc > 0 {
					j.slivA = 0
				}
				j.slivB = 0
				if ic == 0 {
					j.slivB = (j.nc + kr.nr - 1) / kr.nr
				}
				// Each goroutine packs at least asmGrainPack values.
				vals := j.kc * (j.slivA*kr.mr + j.slivB*kr.nr)
				j.packW = min(threads, j.slivA+j.slivB, 1+vals/asmGrainPack)
				ParallelFor(j.packW, 1, j.runPack)

				j.unitsI = (j.mcnt + kr.mc - 1) / kr.mc
				j.units = (j.nc + asmColsPerUnit(kr) - 1) / asmColsPerUnit(kr) * j.unitsI
				flops := 2 * j.mcnt * j.nc * j.kc
				j.workers = min(threads, j.units, 1+flops/asmGrainFlops)
				if len(j.segNext) < j.workers {
					j.segNext = make([]atomic.Int64, j.workers)
				}
				for w := range j.workers {
					j.segNext[w].Store(int64(w * j.units / j.workers))
				}
				ParallelFor(j.workers, 1, j.runCompute)
			}
		}
	}
	j.asmCall = asmCall{} // drop references to the caller's matrices
	asmJobPool.Put(j)
}

// asmGrainPack is the least number of values worth packing on another
// goroutine.
const asmGrainPack = 16 << 10

// asmRowsMax is how many rows of op(A) are packed at a time: a multiple of
// mc, so that the units of work are whole blocks of mc rows but the last.
func asmRowsMax(kr *asmKernel) int { return 8 * kr.mc }

// asmColsPerUnit is the width of a unit of work, a multiple of nr: wide
// enough that each sliver of A, brought into L1, serves several slivers of
// B, narrow enough that a panel makes several units for the goroutines to
// share and that the unit's block of B (kc×ncu) stays in L2. On two Zen 5
// cores, 4·nr against 8·nr took 512×768×3072 from 245 to 283 GFLOP/s (the
// goroutines wait less for each other at the end of a panel) and 1024³
// from 298 to 310, medians of four interleaved runs; 2·nr was no better.
func asmColsPerUnit(kr *asmKernel) int { return 4 * kr.nr }

// asmCall holds the arguments of one call and the panel being computed.
type asmCall struct {
	kern           *asmKernel
	transA, transB bool
	m, n, k        int
	sc             asmScalars // alpha, beta and the row strides of A and B, for micro
	directA        bool       // full slivers of A are read in place (asmDirectA)
	directB        bool       // full slivers of B are read in place (asmDirectB)
	a, b, c        []float32
	lda, ldb, ldc  int

	jc, nc, pc, kc int     // the panel op(B)[pc:pc+kc, jc:jc+nc]
	ic, mcnt       int     // the rows op(A)[ic:ic+mcnt] packed
	mode           asmMode // how this panel's tiles are written
	slivA, slivB   int     // slivers of A and of B to pack (0: packed already)
	aOff           int     // where in packedA the panel's slivers of A are
	packW          int     // goroutines packing: goroutine w packs the w-th of packW shares
	units, unitsI  int     // units of work in the panel, and per block of ncu columns
	workers        int     // goroutines computing, each with its segment of the units
}

// asmJob carries one call to the goroutines of ParallelFor. Jobs are pooled
// with their buffers and their method values bound once, so that a call
// allocates nothing.
type asmJob struct {
	asmCall
	packedA, packedB []float32 // slivers of op(A) (asmRowsMax×kc, or every panel of k of it) and op(B) (kc×nc)
	// segNext[w] is the next unit to claim in segment w of the units,
	// [w·units/workers, (w+1)·units/workers).
	segNext    []atomic.Int64
	runPack    func(lo, hi int)
	runCompute func(lo, hi int)
}

var asmJobPool = sync.Pool{New: func() any {
	j := new(asmJob)
	j.runPack = j.pack
	j.runCompute = j.compute
	return j
}}

// asmEdgePool holds scratch tiles for the ragged edges of C, big enough for
// every kernel (pointers to arrays: putting a slice in a Pool allocates).
var asmEdgePool = sync.Pool{New: func() any { return new([asmMaxTile]float32) }}

// asmMaxTile is the largest mr·nr of the micro-kernels.
const asmMaxTile = 14 * 32

// alignedFloats64 returns n zeroed float32s starting on a 64-byte boundary,
// so that no vector load of a packed operand straddles two cache lines.
func alignedFloats64(n int) []float32 {
	s := make([]float32, n+16)
	off := int(uintptr(unsafe.Pointer(&s[0])) % 64 / 4)
	if off != 0 {
		off = 16 - off
	}
	return s[off : off+n : off+n]
}

// pack packs the shares [lo, hi) of the panel's slivers: share w of packW
// is the w-th packW-th of the slivers of nr columns of op(B) and the same
// of the slivers of mr rows of op(A), so that every share mixes the two
// operands alike (a gather from a transposed operand costs several times
// a copy) and the goroutine that computes the w-th segment of the units
// (compute) finds its slivers of B in its own cache.
func (j *asmJob) pack(lo, hi int) {
	kr := j.kern
	mr, nr, kc := kr.mr, kr.nr, j.kc
	for w := lo; w < hi; w++ {
		for s := w * j.slivB / j.packW; s < (w+1)*j.slivB/j.packW; s++ {
			cols := min(nr, j.nc-s*nr)
			if j.directB && cols == nr {
				continue // read in place by the micro-kernel
			}
			packBAsm(nr, j.packedB[s*nr*kc:][:nr*kc], j.transB, j.b, j.ldb, j.pc, kc, j.jc+s*nr, cols)
		}
		for s := w * j.slivA / j.packW; s < (w+1)*j.slivA/j.packW; s++ {
			// Sliver s of A is mr·kr.kc floats at s·mr·kr.kc.
			dst := j.packedA[j.aOff+s*mr*kr.kc:][:mr*kr.kc]
			rows := min(mr, j.mcnt-s*mr)
			if j.directA && rows == mr {
				continue // read in place by the micro-kernel
			}
			if j.mode&asmRowsA != 0 {
				packARowsAsm(mr, kr.kc, dst, j.a, j.lda, j.ic+s*mr, rows, j.pc, kc)
			} else {
				packAAsm(mr, dst, j.transA, j.a, j.lda, j.ic+s*mr, rows, j.pc, kc)
			}
		}
	}
}

// compute claims units of the panel's tiles of C until none are left and
// computes them: goroutine w (lo) those of its own segment first, then
// those left in the others', so that one slowed by anything else on its
// core is helped rather than waited for. Unit u covers columns
// [jc+(u/unitsI)·ncu, +ncu) and rows [ic+(u%unitsI)·mc, +mc) of C, so that
// segment w mostly reads the slivers of B that share w of the packing
// put in goroutine w's cache. For each sliver of A in a unit (kept in L1)
// the micro-kernel sweeps the unit's slivers of B (kept in L2). (Sweeping
// the slivers of A past each sliver of B instead measured 6% slower on
// 1024³, Zen 5, best of four runs.)
func (j *asmJob) compute(lo, _ int) {
	ncu := asmColsPerUnit(j.kern)
	ldcBytes := uintptr(j.ldc) * 4
	var edge *[asmMaxTile]float32
	for d := range j.workers {
		seg := (lo + d) % j.workers
		end := int64((seg + 1) * j.units / j.workers)
		for {
			u := j.segNext[seg].Add(1) - 1
			if u >= end {
				break
			}
			edge = j.computeUnit(int(u), edge, ncu, ldcBytes)
		}
	}
	if edge != nil {
		asmEdgePool.Put(edge)
	}
}

// computeUnit computes unit u (see compute), with edge as the scratch tile
// for ragged edges, taken from asmEdgePool if nil and needed; it returns
// edge.
func (j *asmJob) computeUnit(u int, edge *[asmMaxTile]float32, ncu int, ldcBytes uintptr) *[asmMaxTile]float32 {
	kr := j.kern
	mr, nr, kc := kr.mr, kr.nr, j.kc
	c0 := u / j.unitsI * ncu
	c1 := min(c0+ncu, j.nc)
	r0 := u % j.unitsI * kr.mc
	r1 := min(r0+kr.mc, j.mcnt)
	for ir := r0; ir < r1; ir += mr {
		as := &j.packedA[j.aOff+ir*kr.kc] // sliver ir/mr
		h := min(mr, r1-ir)
		mode := j.mode
		if j.directA && h == mr {
			as = &j.a[(j.ic+ir)*j.lda+j.pc]
			mode = mode&^asmRowsA | asmDirectA
		}
		var height int
		var aRow, aStep uintptr
		if h < mr {
			if height = kr.shortFor(h); height > 0 {
				aRow, aStep = 4, uintptr(mr)*4
				if mode&asmRowsA != 0 {
					aRow, aStep = uintptr(kr.kc)*4, 4
				}
			}
		}
		for jr := c0; jr < c1; jr += nr {
			bs := &j.packedB[jr*kc] // sliver jr/nr, kc·nr floats each
			i, jj := j.ic+ir, j.jc+jr
			w := min(nr, c1-jr)
			modeB, bStep := mode, uintptr(nr)*4
			if j.directB && w == nr {
				bs = &j.b[j.pc*j.ldb+jj]
				modeB, bStep = mode|asmDirectB, j.sc.ldbBytes
			}
			if h == mr && w == nr {
				kr.micro(as, bs, kc, &j.c[i*j.ldc+jj], ldcBytes, &j.sc.ab, modeB)
			} else if height > 0 && w == nr {
				kr.short(as, bs, kc, &j.c[i*j.ldc+jj], ldcBytes, &j.sc.ab, mode&asmWrite, h, aRow, aStep, bStep, height)
			} else {
				if edge == nil {
					edge = asmEdgePool.Get().(*[asmMaxTile]float32)
				}
				j.edgeTile(edge[:], as, bs, kc, i, jj, h, w, modeB)
			}
		}
	}
	return edge
}

// edgeTile computes an h×w tile of C smaller than the micro-kernel's in a
// scratch tile, so that its elements see the same operations as those of
// whole tiles.
func (j *asmJob) edgeTile(scratch []float32, a, b *float32, kc, i, jj, h, w int, mode asmMode) {
	kr := j.kern
	nr := kr.nr
	scratch = scratch[:kr.mr*nr]
	clear(scratch)
	if mode&asmWrite != asmSet {
		for r := range h {
			copy(scratch[r*nr:][:w], j.c[(i+r)*j.ldc+jj:][:w])
		}
	}
	kr.micro(a, b, kc, &scratch[0], uintptr(nr)*4, &j.sc.ab, mode)
	for r := range h {
		copy(j.c[(i+r)*j.ldc+jj:][:w], scratch[r*nr:][:w])
	}
}

// packAAsm copies op(A)[i0:i0+mc, p0:p0+kc] into dst as ⌈mc/mr⌉ slivers of
// kc steps of mr values, dst[(s·kc+p)·mr+r] = op(A)[i0+s·mr+r, p0+p], with
// zeros for the rows past mc. (Stale values there would meet only
// discarded lanes, but could be subnormal, which x86 computes slowly.)
func packAAsm(mr int, dst []float32, trans bool, a []float32, lda, i0, mc, p0, kc int) {
	for s := 0; s*mr < mc; s++ {
		d := dst[s*mr*kc:][:mr*kc]
		i := i0 + s*mr
		h := min(mr, mc-s*mr)
		if trans { // A is k×m: mr contiguous values per step
			if h == mr && mr >= 4 && mr <= 16 && packCopyRowsShort != nil && kc > 0 {
				_ = a[(p0+kc-1)*lda+i+mr-1] // bounds every row read below
				packCopyRowsShort(&d[0], &a[p0*lda+i], uintptr(lda)*4, kc, mr)
				continue
			}
			for p := range kc {
				dp := d[p*mr:][:mr]
				copy(dp, a[(p0+p)*lda+i:][:h])
				clear(dp[h:])
			}
			continue
		}
		// A is m×k: each step gathers one element of h rows lda apart,
		// packGroup rows at a time. The check below bounds every address
		// (the last row's last element is a[(i+h-1)*lda+p0+kc-1]), so the
		// loop reads through pointers without bounds checks.
		_ = a[(i+h-1)*lda+p0+kc-1]
		stride := uintptr(lda) * 4
		for r0 := 0; r0 < h; r0 += packGroup {
			g := min(packGroup, h-r0)
			src := unsafe.Pointer(&a[(i+r0)*lda+p0])
			for p := range kc {
				dp := d[p*mr+r0:][:g]
				s := unsafe.Add(src, p*4)
				for r := range dp {
					dp[r] = *(*float32)(unsafe.Add(s, uintptr(r)*stride))
				}
			}
		}
		if h < mr {
			for p := range kc {
				clear(d[p*mr+h : (p+1)*mr])
			}
		}
	}
}

// packGroup is how many rows of a row-major A or a transposed B the packers
// gather from at a time (and on amd64 the size of the blocks of a
// transposed B that packBAsm transposes in vector registers). Packing a transposed 768×3072 B into slivers of 32
// on a busy 2-core Zen 5 took 0.8–1.6 ns a value with groups of 4 to 16
// rows, 1.0–2.4 with all 32 at once and 1.5–6.8 one row at a time (values
// then scattered a sliver's width apart); the noise did not separate 4, 8
// and 16.
const packGroup = 8

// packARowsAsm copies the h ≤ mr rows op(A)[i0:i0+h, p0:p0+kc] of a
// row-major A (op(A) = A) into a sliver of mr rows stride floats apart,
// dst[r·stride+p] = op(A)[i0+r, p0+p], with zeros for the rows past h.
func packARowsAsm(mr, stride int, dst []float32, a []float32, lda, i0, h, p0, kc int) {
	for r := range mr {
		d := dst[r*stride:][:kc]
		if r < h {
			copy(d, a[(i0+r)*lda+p0:][:kc])
		} else {
			clear(d)
		}
	}
}

// packBAsm copies op(B)[p0:p0+kc, j0:j0+nc] into dst as ⌈nc/nr⌉ slivers of
// kc steps of nr values, dst[(s·kc+p)·nr+q] = op(B)[p0+p, j0+s·nr+q], with
// zeros for the columns past nc.
func packBAsm(nr int, dst []float32, trans bool, b []float32, ldb, p0, kc, j0, nc int) {
	for s := 0; s*nr < nc; s++ {
		d := dst[s*nr*kc:][:nr*kc]
		j := j0 + s*nr
		w := min(nr, nc-s*nr)
		if !trans { // B is k×n: nr contiguous values per step
			if w == nr && nr%8 == 0 && packCopyRows8 != nil && kc > 0 {
				_ = b[(p0+kc-1)*ldb+j+nr-1] // bounds every row read below
				packCopyRows8(&d[0], &b[p0*ldb+j], uintptr(ldb)*4, kc, nr/8)
				continue
			}
			for p := range kc {
				dp := d[p*nr:][:nr]
				copy(dp, b[(p0+p)*ldb+j:][:w])
				clear(dp[w:])
			}
			continue
		}
		// B is n×k: each step gathers one element of w rows of B ldb
		// apart, read through pointers as in packAAsm, packGroup rows at a
		// time (gathering from all nr rows at once was twice as slow).
		_ = b[(j+w-1)*ldb+p0+kc-1]
		stride := uintptr(ldb) * 4
		for q0 := 0; q0 < w; q0 += packGroup {
			g := min(packGroup, w-q0)
			src := unsafe.Pointer(&b[(j+q0)*ldb+p0])
			p := 0
			if g == 8 && packTranspose8 != nil && kc >= 8 {
				// Whole 8×8 blocks in vector registers (amd64).
				packTranspose8(&d[q0], uintptr(nr)*4, (*float32)(src), stride, kc/8)
				p = kc / 8 * 8
			}
			for ; p < kc; p++ {
				dp := d[p*nr+q0:][:g]
				s := unsafe.Add(src, p*4)
				for q := range dp {
					dp[q] = *(*float32)(unsafe.Add(s, uintptr(q)*stride))
				}
			}
		}
		if w < nr {
			for p := range kc {
				clear(d[p*nr+w : (p+1)*nr])
			}
		}
	}
}
