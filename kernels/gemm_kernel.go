package kernels

// Register-blocking shape of the portable micro-kernel: each call computes an
// mr×nr tile of C. The shape was chosen by benchmark on amd64 (GOAMD64=v1):
// amd64 Go code has 15 usable XMM registers, and the tile must fit its
// accumulators plus the nr values of B for the current k step, one value of A
// and one temporary without spilling.
const (
	mr = 4 // rows of C per micro-tile
	nr = 2 // columns of C per micro-tile
)

// microKernel computes the negated product of one packed sliver of A (kc
// steps of mr values, see packA) and one packed sliver of B (kc steps of nr
// values, see packB):
//
//	acc[i*nr+j] = -Σ_p a[p][i]·b[p][j]
//
// Accumulating with subtraction is deliberate. The Go compiler orders the
// operands of a commutative ADDSS so that the sum lands in the product's
// register, which costs one register move per accumulator per iteration at
// the loop's back edge; SUBSS is not commutative, so the running value stays
// in its register. Negation is exact, so the result is bit-for-bit the
// negation of the usual left-to-right float32 sum, and the caller folds the
// sign into alpha.
//
// The loop is written so that the body, the loop header and its φ-nodes form
// a single basic block with no bounds checks (those sit on the back edge, and
// the compiler proves them away): the SSA scheduler then interleaves each
// multiply with its subtraction instead of hoisting all multiplies first,
// which would need twice the registers. a and b must not be empty.
func microKernel(a [][mr]float32, b [][nr]float32, acc *[mr * nr]float32) {
	var c00, c01, c10, c11, c20, c21, c30, c31 float32
	n := uint(len(a))
	b = b[:n]
	pa, pb := &a[0], &b[0]
	for i := uint(1); ; i++ {
		b0, b1 := pb[0], pb[1]
		a0 := pa[0]
		c00 -= a0 * b0
		c01 -= a0 * b1
		a1 := pa[1]
		c10 -= a1 * b0
		c11 -= a1 * b1
		a2 := pa[2]
		c20 -= a2 * b0
		c21 -= a2 * b1
		a3 := pa[3]
		c30 -= a3 * b0
		c31 -= a3 * b1
		if i >= n {
			break
		}
		pa, pb = &a[i], &b[i]
	}
	*acc = [mr * nr]float32{c00, c01, c10, c11, c20, c21, c30, c31}
}
