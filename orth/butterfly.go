package orth

import (
	"fmt"
	"math"
	"sync"

	"github.com/orthotune/orthotune/kernels"
)

// Butterfly rotations (BOFT, Liu et al. 2023, as HF PEFT defines them).
//
// A butterfly rotation of width n is the product M = B_{m−1}·…·B_1·B_0 of m
// factors B_i = P_i·BD_i·P_iᵀ: BD_i is block-diagonal with D = n/b blocks
// of b×b, and P_i the permutation matrix with P_i[k, perm_i[k]] = 1, so
// B_i[k, l] = BD_i[perm_i[k], perm_i[l]]. perm_i (ButterflyPerm) splits
// 0..n−1 into groups of b·2^i consecutive indices and, inside each group,
// takes its chunks of b/2 indices in the order 0, 2, 4, …, 1, 3, 5, …;
// perm_0 is the identity, and so is every perm of a single factor.
//
// Row vectors are rotated input-centrically: x·M = x·B_{m−1}·…·B_0 (the
// last factor acts first), and x·B_i scatters x through perm_i
// (t[perm_i[k]] = x[k]), multiplies each chunk of b by its block, and
// gathers (out[l] = u[perm_i[l]]). Consecutive gather/scatter pairs are
// fused into one permutation of the columns, so a factor costs one pass
// over the rows besides its block products (RotateRows' kernels).
//
// Blocks are laid out as PEFT's boft_R: factor i's D blocks at
// i·D·b·b, block d of factor i at (i·D + d)·b·b, each row-major.

// Butterfly is the structure of a butterfly rotation: width, block size
// and number of factors, with its permutations precomputed. It is
// immutable and safe for concurrent use.
type Butterfly struct {
	Width, BlockSize, Blocks, Factors int

	perms [][]int // perm_i
	// in gathers x into factor m−1's block input; out is its inverse
	// (the input gradient gather). hop[i] (i ≥ 1) gathers factor i's block
	// output into factor i−1's block input; hopInv[i] is its inverse. nil
	// means the identity.
	in, out     []int
	hop, hopInv [][]int

	// group is b·2^(m−1) when M is block-diagonal over groups of that
	// many consecutive features (every factor maps each group onto
	// itself), else 0. Rotate and Backward then apply M group by group,
	// OFT's block rotation with the groups' dense blocks, instead of
	// factor by factor with permutations between them.
	group int
}

// CheckButterfly reports whether m factors of blocks of b tile a width n
// as PEFT requires (with its CUDA extension): n a multiple of b and, with
// more than one factor, b even and n/b a multiple of 2^(m−1).
func CheckButterfly(n, b, m int) error {
	switch {
	case n < 1 || b < 1:
		return fmt.Errorf("width %d and block size %d must be positive", n, b)
	case m < 1:
		return fmt.Errorf("%d butterfly factors: want at least 1", m)
	case n%b != 0:
		return fmt.Errorf("blocks of %d do not tile width %d", b, n)
	}
	if m == 1 {
		return nil
	}
	d := n / b
	switch {
	case b%2 != 0:
		return fmt.Errorf("%d butterfly factors need an even block size, got %d", m, b)
	case m-1 >= 62 || d%(1<<(m-1)) != 0:
		return fmt.Errorf("%d butterfly factors need a number of blocks divisible by 2^%d = %d; width %d in blocks of %d has %d", m, m-1, 1<<min(m-1, 62), n, b, d)
	}
	return nil
}

// ButterflyPerm returns perm_i of the i-th of m factors over width n with
// blocks of b: PEFT's block_butterfly_perm(n, (n/b)/2^i, b/2, m−1). It
// panics if the structure is invalid (see CheckButterfly).
func ButterflyPerm(n, b, i, m int) []int {
	if err := CheckButterfly(n, b, m); err != nil {
		panic("orth.ButterflyPerm: " + err.Error())
	}
	if i < 0 || i >= m {
		panic(fmt.Sprintf("orth.ButterflyPerm: factor %d of %d", i, m))
	}
	p := make([]int, n)
	if m == 1 {
		for k := range p {
			p[k] = k
		}
		return p
	}
	g := b << i     // group size
	r := b / 2      // chunk size
	chunks := g / r // 2^(i+1)
	for base := 0; base < n; base += g {
		pos := 0
		for _, start := range [2]int{0, 1} {
			for c := start; c < chunks; c += 2 {
				for j := range r {
					p[base+pos] = base + c*r + j
					pos++
				}
			}
		}
	}
	return p
}

// NewButterfly returns the structure of m factors of blocks of b over
// width n, or an error if PEFT would refuse it (CheckButterfly).
func NewButterfly(n, b, m int) (*Butterfly, error) {
	if err := CheckButterfly(n, b, m); err != nil {
		return nil, err
	}
	bf := &Butterfly{Width: n, BlockSize: b, Blocks: n / b, Factors: m}
	invs := make([][]int, m)
	for i := range m {
		p := ButterflyPerm(n, b, i, m)
		bf.perms = append(bf.perms, p)
		invs[i] = invert(p)
	}
	bf.in, bf.out = orNil(invs[m-1]), orNil(bf.perms[m-1])
	bf.hop, bf.hopInv = make([][]int, m), make([][]int, m)
	for i := 1; i < m; i++ {
		// t_{i−1}[j] = u_i[perm_i[inv_{i−1}[j]]]
		h := make([]int, n)
		for j := range h {
			h[j] = bf.perms[i][invs[i-1][j]]
		}
		bf.hop[i], bf.hopInv[i] = orNil(h), orNil(invert(h))
	}
	if m > 1 {
		bf.group = bf.findGroup()
	}
	return bf, nil
}

// findGroup returns g = b·2^(m−1) if every factor's permutation keeps each
// run of g consecutive features within itself and each of its blocks
// within one run, so that M is block-diagonal over the runs; else 0.
func (bf *Butterfly) findGroup() int {
	n, b := bf.Width, bf.BlockSize
	g := b << (bf.Factors - 1)
	if g > n || n%g != 0 {
		return 0
	}
	for _, p := range bf.perms {
		for j, v := range p {
			if j/g != v/g {
				return 0
			}
		}
		// The features of one block of the factor's block-diagonal matrix
		// are perm^-1 of a run of b; all must lie in one group, which the
		// check above implies as blocks of b tile the group's features.
	}
	return g
}

// groupFactor sets f (g×g, float64) to factor i restricted to group k:
// f[r][c] = B_i[kg+r, kg+c] = BD_i[perm_i[kg+r], perm_i[kg+c]].
func (bf *Butterfly) groupFactor(blocks []float32, i, k int, f []float64) {
	g, b := bf.group, bf.BlockSize
	fac := bf.factor(blocks, i)
	p := bf.perms[i][k*g : (k+1)*g]
	for r, pr := range p {
		row := f[r*g : (r+1)*g]
		for c, pc := range p {
			if pr/b != pc/b {
				row[c] = 0
				continue
			}
			row[c] = float64(fac[(pr/b)*b*b+(pr%b)*b+pc%b])
		}
	}
}

// scratch64Pool holds the groups' float64 scratch.
var scratch64Pool = sync.Pool{New: func() any { return new([]float64) }}

func getScratch64(n int) *[]float64 {
	s := scratch64Pool.Get().(*[]float64)
	if cap(*s) < n {
		*s = make([]float64, n)
	}
	*s = (*s)[:n]
	return s
}

// mulG sets dst = a·b for g×g float64 matrices (dst must not alias).
func mulG(dst, a, b []float64, g int) {
	for r := range g {
		d := dst[r*g : (r+1)*g]
		clear(d)
		for k, av := range a[r*g : (r+1)*g] {
			if av == 0 {
				continue
			}
			for c, bv := range b[k*g : (k+1)*g] {
				d[c] += av * bv
			}
		}
	}
}

// groupBlocks sets dst (Width/g blocks of g×g) to M's diagonal blocks:
// M_k = F_{m−1,k}·…·F_{0,k}.
func (bf *Butterfly) groupBlocks(blocks []float32, dst []float32) {
	g, m := bf.group, bf.Factors
	gg := g * g
	sb := getScratch64(3 * gg)
	defer scratch64Pool.Put(sb)
	buf := *sb
	acc, f, t := buf[:gg], buf[gg:2*gg], buf[2*gg:]
	for k := range bf.Width / g {
		bf.groupFactor(blocks, m-1, k, acc)
		for i := m - 2; i >= 0; i-- {
			bf.groupFactor(blocks, i, k, f)
			mulG(t, acc, f, g)
			acc, t = t, acc
		}
		out := dst[k*gg : (k+1)*gg]
		for j, v := range acc {
			out[j] = float32(v)
		}
	}
}

// groupBackward adds to dblocks the gradient of the factors' blocks given
// dG, the gradient of M's group blocks: for M_k = L·F_i·R (L the factors
// after i, R those before), dF_i = Lᵀ·dM_k·Rᵀ, of which the entries inside
// factor i's blocks are its blocks' gradients.
func (bf *Butterfly) groupBackward(blocks, dG, dblocks []float32) {
	g, b, m := bf.group, bf.BlockSize, bf.Factors
	gg := g * g
	sb := getScratch64((m + 4) * gg)
	defer scratch64Pool.Put(sb)
	fs := (*sb)[:m*gg] // F_0 … F_{m−1} of the group
	buf := (*sb)[m*gg:]
	left, right, t, d := buf[:gg], buf[gg:2*gg], buf[2*gg:3*gg], buf[3*gg:4*gg]
	for k := range bf.Width / g {
		for i := range m {
			bf.groupFactor(blocks, i, k, fs[i*gg:(i+1)*gg])
		}
		dm := dG[k*gg : (k+1)*gg]
		for i := range m {
			// left = F_{m−1}⋯F_{i+1}, right = F_{i−1}⋯F_0 (identity if empty).
			setIdentity(left, g, 1)
			for j := m - 1; j > i; j-- {
				mulG(t, left, fs[j*gg:(j+1)*gg], g)
				left, t = t, left
			}
			setIdentity(right, g, 1)
			for j := i - 1; j >= 0; j-- {
				mulG(t, right, fs[j*gg:(j+1)*gg], g)
				right, t = t, right
			}
			// d = leftᵀ·(dm·rightᵀ), two g³ products: t = dm·rightᵀ first.
			for a := range g {
				row := dm[a*g : (a+1)*g]
				for c := range g {
					var sum float64
					rc := right[c*g : (c+1)*g]
					for e, v := range row {
						sum += float64(v) * rc[e]
					}
					t[a*g+c] = sum
				}
			}
			clear(d)
			for a := range g {
				ta := t[a*g : (a+1)*g]
				for r, la := range left[a*g : (a+1)*g] {
					if la == 0 {
						continue
					}
					dr := d[r*g : (r+1)*g]
					for c, v := range ta {
						dr[c] += la * v
					}
				}
			}
			fac := bf.factor(dblocks, i)
			p := bf.perms[i][k*g : (k+1)*g]
			for r, pr := range p {
				for c, pc := range p {
					if pr/b == pc/b {
						fac[(pr/b)*b*b+(pr%b)*b+pc%b] += float32(d[r*g+c])
					}
				}
			}
		}
	}
}

func invert(p []int) []int {
	q := make([]int, len(p))
	for k, v := range p {
		q[v] = k
	}
	return q
}

// orNil returns nil for the identity permutation, else p.
func orNil(p []int) []int {
	for k, v := range p {
		if k != v {
			return p
		}
	}
	return nil
}

// Perm returns a copy of perm_i.
func (bf *Butterfly) Perm(i int) []int { return append([]int(nil), bf.perms[i]...) }

// NumBlockValues is the length of the blocks operand: m·D·b·b.
func (bf *Butterfly) NumBlockValues() int {
	return bf.Factors * bf.Blocks * bf.BlockSize * bf.BlockSize
}

// TraceLen is the number of values Rotate keeps for Backward for rows
// rows: the block inputs of factors 0..m−2, (m−1)·rows·width (factor
// m−1's input is a permutation of x, recomputed).
func (bf *Butterfly) TraceLen(rows int) int {
	if bf.group > 0 {
		return 0 // the grouped backward needs x alone
	}
	return (bf.Factors - 1) * rows * bf.Width
}

func (bf *Butterfly) factor(blocks []float32, i int) []float32 {
	sz := bf.Blocks * bf.BlockSize * bf.BlockSize
	return blocks[i*sz : (i+1)*sz]
}

func (bf *Butterfly) check(fn string, rows int, blocks []float32, mats ...[]float32) {
	if rows < 0 || len(blocks) < bf.NumBlockValues() {
		panic(fmt.Sprintf("orth.Butterfly.%s: %d rows, %d block values (want %d)", fn, rows, len(blocks), bf.NumBlockValues()))
	}
	for _, m := range mats {
		if len(m) < rows*bf.Width {
			panic(fmt.Sprintf("orth.Butterfly.%s: %d×%d needs %d values, got %d", fn, rows, bf.Width, rows*bf.Width, len(m)))
		}
	}
}

// permJob gathers the columns of rows×n matrices in parallel: dst[r, j] =
// src[r, p[j]]. Pooled with its run method bound once.
type permJob struct {
	src, dst []float32
	p        []int
	n        int
	run      func(lo, hi int)
}

var permPool = sync.Pool{New: func() any {
	j := new(permJob)
	j.run = j.do
	return j
}}

func (j *permJob) do(lo, hi int) {
	n := j.n
	for r := lo; r < hi; r++ {
		s, d := j.src[r*n:(r+1)*n], j.dst[r*n:(r+1)*n]
		for k, v := range j.p {
			d[k] = s[v]
		}
	}
}

// actPool holds activation-sized scratch (a few rows×width matrices) for
// Rotate and Backward, apart from the per-block scratchPool so that the
// small buffers there do not displace these.
var actPool = sync.Pool{New: func() any { return new([]float32) }}

func getActScratch(n int) *[]float32 {
	s := actPool.Get().(*[]float32)
	if cap(*s) < n {
		*s = make([]float32, n)
	}
	*s = (*s)[:n]
	return s
}

func putActScratch(s *[]float32) { actPool.Put(s) }

// gatherCols sets dst[r, j] = src[r, p[j]] (p nil: a copy). dst must not
// alias src unless p is nil.
func gatherCols(src, dst []float32, rows, n int, p []int) {
	if p == nil {
		copy(dst[:rows*n], src[:rows*n])
		return
	}
	j := permPool.Get().(*permJob)
	j.src, j.dst, j.p, j.n = src, dst, p, n
	kernels.ParallelFor(rows, max(1, 4096/max(n, 1)), j.run)
	j.src, j.dst, j.p = nil, nil, nil
	permPool.Put(j)
}

// Rotate sets out = x·M for rows×width x, M the butterfly rotation of
// blocks. With trace (TraceLen(rows) values) it keeps the block inputs
// Backward needs; trace may be nil when no backward follows (for one
// factor TraceLen is 0 and nothing is kept). out must not alias x or
// trace.
func (bf *Butterfly) Rotate(x []float32, rows int, blocks, out, trace []float32) {
	bf.check("Rotate", rows, blocks, x, out)
	if trace != nil && len(trace) < bf.TraceLen(rows) {
		panic(fmt.Sprintf("orth.Butterfly.Rotate: trace has %d values, want %d", len(trace), bf.TraceLen(rows)))
	}
	n, b, m := bf.Width, bf.BlockSize, bf.Factors
	sz := rows * n
	if rows == 0 {
		return
	}
	if m == 1 {
		RotateRows(x, rows, n, b, bf.factor(blocks, 0), false, out)
		return
	}
	if g := bf.group; g > 0 {
		gb := getScratch(n * g)
		bf.groupBlocks(blocks, *gb)
		RotateRows(x, rows, n, g, *gb, false, out)
		putScratch(gb)
		return
	}
	// Factor m−1's input, then each factor's product, gathered into the
	// next factor's input: t_i in trace slot i (or scratch), u in scratch.
	s := getActScratch(2 * sz)
	defer putActScratch(s)
	tbuf, u := (*s)[:sz], (*s)[sz:]
	slot := func(i int) []float32 {
		if trace != nil {
			return trace[i*sz : (i+1)*sz]
		}
		return tbuf
	}
	t := tbuf // factor m−1's input is a permutation of x: not kept
	gatherCols(x, t, rows, n, bf.in)
	for i := m - 1; i >= 1; i-- {
		RotateRows(t, rows, n, b, bf.factor(blocks, i), false, u)
		t = slot(i - 1)
		gatherCols(u, t, rows, n, bf.hop[i])
	}
	RotateRows(t, rows, n, b, bf.factor(blocks, 0), false, out)
}

// RotateT sets out = x·Mᵀ: the input gradient of Rotate (dx from dy) and,
// for orthogonal blocks, the inverse rotation. out must not alias x.
func (bf *Butterfly) RotateT(x []float32, rows int, blocks, out []float32) {
	bf.Backward(nil, nil, x, rows, blocks, out, nil)
}

// Backward is the backward pass of out = x·M given dy = dL/dout: it sets
// dx = dy·Mᵀ and, when dblocks is not nil, adds dL/dblocks (each block
// treated as a free b×b matrix; blocks' layout) into dblocks, from x and
// the trace Rotate kept (x and trace are unused when dblocks is nil). dx
// must not alias x, dy or trace.
func (bf *Butterfly) Backward(x, trace, dy []float32, rows int, blocks, dx, dblocks []float32) {
	bf.check("Backward", rows, blocks, dy, dx)
	if dblocks != nil {
		bf.check("Backward", rows, dblocks, x)
		if len(trace) < bf.TraceLen(rows) {
			panic(fmt.Sprintf("orth.Butterfly.Backward: trace has %d values, want %d", len(trace), bf.TraceLen(rows)))
		}
	}
	n, b, m := bf.Width, bf.BlockSize, bf.Factors
	sz := rows * n
	if rows == 0 {
		return
	}
	if m == 1 {
		if dblocks == nil {
			RotateRowsT(dy, rows, n, b, bf.factor(blocks, 0), false, dx)
		} else {
			RotateBackward(x, dy, rows, n, b, bf.factor(blocks, 0), dx, bf.factor(dblocks, 0))
		}
		return
	}
	if g := bf.group; g > 0 {
		gb := getScratch(2 * n * g)
		defer putScratch(gb)
		gBlocks, dG := (*gb)[:n*g], (*gb)[n*g:]
		bf.groupBlocks(blocks, gBlocks)
		if dblocks == nil {
			RotateRowsT(dy, rows, n, g, gBlocks, false, dx)
			return
		}
		clear(dG)
		RotateBackward(x, dy, rows, n, g, gBlocks, dx, dG)
		bf.groupBackward(blocks, dG, dblocks)
		return
	}
	s := getActScratch(3 * sz)
	defer putActScratch(s)
	d, dt, tin := (*s)[:sz], (*s)[sz:2*sz], (*s)[2*sz:]
	copy(d, dy[:sz])
	for i := 0; i < m; i++ {
		if dblocks == nil {
			RotateRowsT(d, rows, n, b, bf.factor(blocks, i), false, dt)
		} else {
			t := tin
			if i < m-1 {
				t = trace[i*sz : (i+1)*sz]
			} else {
				gatherCols(x, tin, rows, n, bf.in)
			}
			RotateBackward(t, d, rows, n, b, bf.factor(blocks, i), dt, bf.factor(dblocks, i))
		}
		if i < m-1 {
			gatherCols(dt, d, rows, n, bf.hopInv[i+1])
		} else {
			gatherCols(dt, dx, rows, n, bf.out)
		}
	}
}

// LinearWeight sets dst = W·Mᵀ for an nn.Linear weight w (out, width): the
// merged weight of y = (x·M)·Wᵀ. dst must not alias w.
func (bf *Butterfly) LinearWeight(w []float32, out int, blocks, dst []float32) {
	bf.RotateT(w, out, blocks, dst)
}

// Conv1DWeight sets dst = M·W for a GPT-2 Conv1D weight w (width, out): the
// merged weight of y = (x·M)·W. dst must not alias w. It allocates a
// transposed copy.
func (bf *Butterfly) Conv1DWeight(w []float32, out int, blocks, dst []float32) {
	n := bf.Width
	wt := make([]float32, 2*n*out)
	transposeRect(wt[:n*out], w, n, out) // (out, n)
	bf.RotateT(wt[:n*out], out, blocks, wt[n*out:])
	transposeRect(dst, wt[n*out:], out, n) // M·W = (Wᵀ·Mᵀ)ᵀ
}

// transposeRect sets dst (c×r) = srcᵀ for an r×c matrix src.
func transposeRect(dst, src []float32, r, c int) {
	for i := range r {
		for j := range c {
			dst[j*r+i] = src[i*c+j]
		}
	}
}

// rows64 applies the rotation (or, transposed, Mᵀ) to the rows of x in
// float64, one row at a time, straight from the definition: the reference
// for tests and the exact path of the diagnostics.
func (bf *Butterfly) rows64(x []float64, rows int, blocks []float64, transpose bool) {
	n, b, m := bf.Width, bf.BlockSize, bf.Factors
	kernels.ParallelFor(rows, 1, func(lo, hi int) {
		t, u := make([]float64, n), make([]float64, n)
		for r := lo; r < hi; r++ {
			row := x[r*n : (r+1)*n]
			for step := range m {
				i := m - 1 - step
				if transpose {
					i = step
				}
				p := bf.perms[i]
				for k, v := range row {
					t[p[k]] = v
				}
				for d := range bf.Blocks {
					blk := blocks[(i*bf.Blocks+d)*b*b:]
					for c := range b {
						var acc float64
						for k := range b {
							if transpose { // t_d·Rᵀ
								acc += t[d*b+k] * blk[c*b+k]
							} else {
								acc += t[d*b+k] * blk[k*b+c]
							}
						}
						u[d*b+c] = acc
					}
				}
				for l := range row {
					row[l] = u[p[l]]
				}
			}
		}
	})
}

// Matrix returns the dense width×width rotation M of blocks, computed in
// float64 and rounded once: for tests and small diagnostics.
func (bf *Butterfly) Matrix(blocks []float32) []float32 {
	bf.check("Matrix", 0, blocks)
	n := bf.Width
	x := make([]float64, n*n)
	for i := range n {
		x[i*n+i] = 1
	}
	b64 := make([]float64, bf.NumBlockValues())
	widen(b64, blocks[:len(b64)])
	bf.rows64(x, n, b64, false)
	out := make([]float32, n*n)
	narrow(out, x)
	return out
}

// OrthogonalityError returns ‖MᵀM − I‖_F of the full rotation (which
// equals ‖M·Mᵀ − I‖_F), in float64 from the float32 blocks: M is formed
// as I·M and multiplied by Mᵀ factor by factor, 2·m·width²·b products.
func (bf *Butterfly) OrthogonalityError(blocks []float32) float64 {
	bf.check("OrthogonalityError", 0, blocks)
	n := bf.Width
	x := make([]float64, n*n)
	for i := range n {
		x[i*n+i] = 1
	}
	b64 := make([]float64, bf.NumBlockValues())
	widen(b64, blocks[:len(b64)])
	bf.rows64(x, n, b64, false)
	bf.rows64(x, n, b64, true)
	var s float64
	for i := range n {
		for j := range n {
			d := x[i*n+j]
			if i == j {
				d--
			}
			s += d * d
		}
	}
	return math.Sqrt(s)
}

// DeterminantSign returns the sign of det M: the product of its blocks'
// determinant signs (the permutations cancel in P·BD·Pᵀ); 0 if a block is
// singular.
func (bf *Butterfly) DeterminantSign(blocks []float32) int {
	bf.check("DeterminantSign", 0, blocks)
	b := bf.BlockSize
	sign := 1
	for i := range bf.Factors * bf.Blocks {
		s, _ := Determinant(blocks[i*b*b:(i+1)*b*b], b)
		sign *= s
	}
	return sign
}
