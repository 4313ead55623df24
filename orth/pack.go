package orth

import (
	"fmt"
	"math"
)

// NumParams returns b(b−1)/2, the number of packed parameters of one b×b
// skew-symmetric block (the strict upper triangle).
func NumParams(b int) int { return b * (b - 1) / 2 }

// BlockSizeFromParams inverts NumParams: it returns the block size b with
// b(b−1)/2 = cols, that is b = (1 + √(1 + 8·cols)) / 2, and an error when
// cols is not of that form for an integer b ≥ 2. Loaders take each layer's
// b from the column count of its oft_R.weight this way, since PEFT may have
// adjusted the configured block size.
func BlockSizeFromParams(cols int) (int, error) {
	const maxCols = 1 << 40
	if cols < 1 || cols > maxCols {
		return 0, fmt.Errorf("orth: %d packed parameters per block: want b(b−1)/2 for a block size b ≥ 2", cols)
	}
	x := 1 + 8*cols
	s := int(math.Sqrt(float64(x)))
	for s*s > x {
		s--
	}
	for (s+1)*(s+1) <= x {
		s++
	}
	b := (1 + s) / 2
	if s*s != x || NumParams(b) != cols || b < 2 {
		return 0, fmt.Errorf("orth: %d packed parameters per block is not b(b−1)/2 for any integer block size b (nearest b(b−1)/2 are %d and %d)",
			cols, NumParams(b), NumParams(b+1))
	}
	return b, nil
}

// UnpackSkew writes the b×b skew-symmetric matrix whose strict upper
// triangle is v, in PEFT's order (torch.triu_indices(b, b, 1): (0,1),
// (0,2)…(0,b−1), (1,2)…): q[r][c] = v_k, q[c][r] = −v_k, zero diagonal. All
// of q's b·b entries are overwritten.
func UnpackSkew(v []float32, b int, q []float32) {
	checkPacked("UnpackSkew", v, b, q)
	k := 0
	for r := range b {
		q[r*b+r] = 0
		for c := r + 1; c < b; c++ {
			q[r*b+c] = v[k]
			q[c*b+r] = -v[k]
			k++
		}
	}
}

// PackSkew writes the strict upper triangle of the b×b matrix q into v in
// PEFT's order; the lower triangle and the diagonal are not read.
func PackSkew(q []float32, b int, v []float32) {
	checkPacked("PackSkew", v, b, q)
	k := 0
	for r := range b {
		for c := r + 1; c < b; c++ {
			v[k] = q[r*b+c]
			k++
		}
	}
}

// SkewGrad accumulates the gradient with respect to the packed v into dv,
// given dq = dL/dQ for Q = UnpackSkew(v): dv_k += dq[r][c] − dq[c][r].
func SkewGrad(dq []float32, b int, dv []float32) {
	checkPacked("SkewGrad", dv, b, dq)
	k := 0
	for r := range b {
		for c := r + 1; c < b; c++ {
			dv[k] += dq[r*b+c] - dq[c*b+r]
			k++
		}
	}
}

func checkPacked(fn string, v []float32, b int, q []float32) {
	if b < 1 {
		panic(fmt.Sprintf("orth.%s: block size %d", fn, b))
	}
	if len(v) < NumParams(b) || len(q) < b*b {
		panic(fmt.Sprintf("orth.%s: b=%d needs %d packed and %d matrix values, got %d and %d",
			fn, b, NumParams(b), b*b, len(v), len(q)))
	}
}

func checkSquare(fn string, m []float32, b int) {
	if b < 1 || len(m) < b*b {
		panic(fmt.Sprintf("orth.%s: b=%d needs %d values, got %d", fn, b, b*b, len(m)))
	}
}
