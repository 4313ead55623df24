package orth

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// workspace is pooled float64 scratch for the per-block routines, so that
// Rotation, Backward and the diagnostics allocate nothing in steady state.
type workspace struct {
	f    []float64
	piv  []int
	mats [][]float64
}

var wsPool = sync.Pool{New: func() any { return new(workspace) }}

// getWorkspace returns a workspace with nmat b×b float64 matrices and a
// pivot vector of length b.
func getWorkspace(nmat, b int) (*workspace, [][]float64) {
	ws := wsPool.Get().(*workspace)
	bb := b * b
	if cap(ws.f) < nmat*bb {
		ws.f = make([]float64, nmat*bb)
	}
	if cap(ws.piv) < b {
		ws.piv = make([]int, b)
	}
	ws.piv = ws.piv[:b]
	ws.mats = ws.mats[:0]
	for i := range nmat {
		ws.mats = append(ws.mats, ws.f[i*bb:(i+1)*bb:(i+1)*bb])
	}
	return ws, ws.mats
}

func putWorkspace(ws *workspace) { wsPool.Put(ws) }

// widen copies a float32 matrix into float64.
func widen(dst []float64, src []float32) {
	for i := range dst {
		dst[i] = float64(src[i])
	}
}

// narrow rounds a float64 matrix to float32.
func narrow(dst []float32, src []float64) {
	for i := range src {
		dst[i] = float32(src[i])
	}
}

// setIdentity sets m = s·I.
func setIdentity(m []float64, n int, s float64) {
	clear(m[:n*n])
	for i := range n {
		m[i*n+i] = s
	}
}

// mul sets c = op(a)·op(b) for n×n float64 matrices; c must not alias a or b.
func mul(c, a, b []float64, n int, transA, transB bool) {
	clear(c[:n*n])
	switch {
	case !transA && !transB:
		for i := range n {
			ci := c[i*n : (i+1)*n]
			for k := range n {
				aik := a[i*n+k]
				bk := b[k*n : (k+1)*n]
				for j := range ci {
					ci[j] += aik * bk[j]
				}
			}
		}
	case transA && !transB:
		for k := range n {
			ak := a[k*n : (k+1)*n]
			bk := b[k*n : (k+1)*n]
			for i := range n {
				aki := ak[i]
				ci := c[i*n : (i+1)*n]
				for j := range ci {
					ci[j] += aki * bk[j]
				}
			}
		}
	case !transA && transB:
		for i := range n {
			ai := a[i*n : (i+1)*n]
			for j := range n {
				bj := b[j*n : (j+1)*n]
				var s float64
				for k := range ai {
					s += ai[k] * bj[k]
				}
				c[i*n+j] = s
			}
		}
	default: // aᵀ·bᵀ = (b·a)ᵀ
		for i := range n {
			for j := range n {
				var s float64
				for k := range n {
					s += a[k*n+i] * b[j*n+k]
				}
				c[i*n+j] = s
			}
		}
	}
}

// luFactor factors the n×n matrix a in place as P·A = L·U (unit lower L
// below the diagonal, U on and above it) with partial pivoting; piv[i] is
// the original row now at row i. It returns the permutation's sign and the
// smallest |pivot|. A zero pivot leaves the rest of that column
// unscaled and the factorisation continues, so the result is usable for a
// determinant (which is then 0).
func luFactor(a []float64, n int, piv []int) (sign int, minPivot float64) {
	sign = 1
	minPivot = math.Inf(1)
	for i := range n {
		piv[i] = i
	}
	for k := range n {
		p, best := k, math.Abs(a[k*n+k])
		for i := k + 1; i < n; i++ {
			if v := math.Abs(a[i*n+k]); v > best {
				p, best = i, v
			}
		}
		if p != k {
			rk, rp := a[k*n:(k+1)*n], a[p*n:(p+1)*n]
			for j := range rk {
				rk[j], rp[j] = rp[j], rk[j]
			}
			piv[k], piv[p] = piv[p], piv[k]
			sign = -sign
		}
		d := a[k*n+k]
		minPivot = min(minPivot, math.Abs(d))
		if d == 0 {
			continue
		}
		rk := a[k*n+k+1 : (k+1)*n]
		for i := k + 1; i < n; i++ {
			l := a[i*n+k] / d
			a[i*n+k] = l
			if l == 0 {
				continue
			}
			ri := a[i*n+k+1 : (i+1)*n]
			for j := range ri {
				ri[j] -= l * rk[j]
			}
		}
	}
	return sign, minPivot
}

// luInverse writes A⁻¹ into inv from the factors luFactor left in lu.
// Zero pivots produce infinities or NaNs.
func luInverse(lu []float64, n int, piv []int, inv []float64) {
	// Solve A·X = I column by column: P·A = L·U, so L·U·X = P.
	clear(inv[:n*n])
	for i := range n {
		inv[i*n+piv[i]] = 1 // row i of P·I
	}
	// Forward substitution with unit L, all columns at once (row-oriented).
	for i := range n {
		xi := inv[i*n : (i+1)*n]
		for k := range i {
			l := lu[i*n+k]
			if l == 0 {
				continue
			}
			xk := inv[k*n : (k+1)*n]
			for j := range xi {
				xi[j] -= l * xk[j]
			}
		}
	}
	// Back substitution with U.
	for i := n - 1; i >= 0; i-- {
		xi := inv[i*n : (i+1)*n]
		for k := i + 1; k < n; k++ {
			u := lu[i*n+k]
			if u == 0 {
				continue
			}
			xk := inv[k*n : (k+1)*n]
			for j := range xi {
				xi[j] -= u * xk[j]
			}
		}
		d := lu[i*n+i]
		for j := range xi {
			xi[j] /= d
		}
	}
}

// ErrSingular is returned (wrapped) by Invert for a singular matrix.
var ErrSingular = errors.New("orth: matrix is singular")

// Invert writes the inverse of the b×b matrix m into out, computed in
// float64 by LU factorisation with partial pivoting and rounded to float32.
// It returns an error wrapping ErrSingular, leaving out unspecified, when m
// is singular or so nearly singular that a float32 inverse would be
// meaningless: when some pivot is at most b·2⁻²⁴·max|m| (which includes a
// zero matrix), or the inverse is not finite. out may alias m. Its use is
// unmerging Neumann rotations, which are close to orthogonal but not
// exactly, so their transpose is not their inverse.
func Invert(m []float32, b int, out []float32) error {
	checkSquare("Invert", m, b)
	checkSquare("Invert", out, b)
	ws, mats := getWorkspace(2, b)
	defer putWorkspace(ws)
	a, inv := mats[0], mats[1]
	widen(a, m[:b*b])
	var scale float64
	for _, v := range a {
		scale = math.Max(scale, math.Abs(v))
	}
	_, minPivot := luFactor(a, b, ws.piv)
	if !(minPivot > float64(b)*0x1p-24*scale) {
		return fmt.Errorf("%w: %d×%d, smallest LU pivot %.3g against largest entry %.3g", ErrSingular, b, b, minPivot, scale)
	}
	luInverse(a, b, ws.piv, inv)
	for _, v := range inv {
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > math.MaxFloat32 {
			return fmt.Errorf("%w: %d×%d, inverse overflows float32", ErrSingular, b, b)
		}
	}
	narrow(out[:b*b], inv)
	return nil
}
