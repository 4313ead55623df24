package orth

import (
	"fmt"
	"math"
	"math/cmplx"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/tensor"
)

// OrthogonalityError returns ‖RᵀR − I‖_F for the b×b matrix r, computed in
// float64 from r's float32 values.
func OrthogonalityError(r []float32, b int) float64 {
	checkSquare("OrthogonalityError", r, b)
	ws, m := getWorkspace(2, b)
	defer putWorkspace(ws)
	r64, p := m[0], m[1]
	widen(r64, r[:b*b])
	mul(p, r64, r64, b, true, false)
	var s float64
	for i := range b {
		for j := range b {
			d := p[i*b+j]
			if i == j {
				d--
			}
			s += d * d
		}
	}
	return math.Sqrt(s)
}

// Determinant returns the sign (−1, 0 or +1) and log|det| of the b×b
// matrix r, by float64 LU with partial pivoting. A singular r (an exactly
// zero pivot) gives sign 0 and logAbs −Inf.
func Determinant(r []float32, b int) (sign int, logAbs float64) {
	checkSquare("Determinant", r, b)
	ws, m := getWorkspace(1, b)
	defer putWorkspace(ws)
	a := m[0]
	widen(a, r[:b*b])
	sign, _ = luFactor(a, b, ws.piv)
	for i := range b {
		d := a[i*b+i]
		if d == 0 || math.IsNaN(d) {
			return 0, math.Inf(-1)
		}
		if d < 0 {
			sign = -sign
		}
		logAbs += math.Log(math.Abs(d))
	}
	return sign, logAbs
}

// NormPreservation returns max |‖xR‖ − ‖x‖| / ‖x‖ over trials random
// standard Gaussian row vectors x of length b, in float64; 0 for an
// orthogonal R up to rounding.
func NormPreservation(r []float32, b int, rng *tensor.RNG, trials int) float64 {
	checkSquare("NormPreservation", r, b)
	x := tensor.New(b)
	y := make([]float64, b)
	var worst float64
	for range trials {
		rng.Normal(x, 0, 1)
		rowTimes(y, x.Data, r, b)
		nx, ny := norm32(x.Data), norm64(y)
		if nx == 0 {
			continue
		}
		worst = math.Max(worst, math.Abs(ny-nx)/nx)
	}
	return worst
}

// InnerProductPreservation returns max |⟨xR, yR⟩ − ⟨x, y⟩| / (‖x‖‖y‖) over
// trials pairs of random standard Gaussian row vectors, in float64.
func InnerProductPreservation(r []float32, b int, rng *tensor.RNG, trials int) float64 {
	checkSquare("InnerProductPreservation", r, b)
	x, y := tensor.New(b), tensor.New(b)
	xr, yr := make([]float64, b), make([]float64, b)
	var worst float64
	for range trials {
		rng.Normal(x, 0, 1)
		rng.Normal(y, 0, 1)
		rowTimes(xr, x.Data, r, b)
		rowTimes(yr, y.Data, r, b)
		var before, after float64
		for i := range b {
			before += float64(x.Data[i]) * float64(y.Data[i])
			after += xr[i] * yr[i]
		}
		den := norm32(x.Data) * norm32(y.Data)
		if den == 0 {
			continue
		}
		worst = math.Max(worst, math.Abs(after-before)/den)
	}
	return worst
}

// rowTimes sets y = x·R in float64.
func rowTimes(y []float64, x, r []float32, b int) {
	clear(y)
	for k := range b {
		xk := float64(x[k])
		for j := range b {
			y[j] += xk * float64(r[k*b+j])
		}
	}
}

func norm32(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func norm64(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

// EigenModuli returns |λ| for every eigenvalue λ of the b×b matrix r,
// sorted ascending, computed in float64 by gonum's mat.Eigen. Every modulus
// of an orthogonal matrix is 1.
func EigenModuli(r []float32, b int) ([]float64, error) {
	checkSquare("EigenModuli", r, b)
	a := make([]float64, b*b)
	widen(a, r[:b*b])
	var e mat.Eigen
	if !e.Factorize(mat.NewDense(b, b, a), mat.EigenNone) {
		return nil, fmt.Errorf("orth: eigendecomposition of a %d×%d matrix did not converge", b, b)
	}
	vals := e.Values(nil)
	out := make([]float64, len(vals))
	for i, v := range vals {
		out[i] = cmplx.Abs(v)
	}
	slices.Sort(out)
	return out, nil
}

// heMinDistance is the floor HypersphericalEnergy puts under the distance
// between two unit directions, so that coincident directions contribute a
// large finite 1/heMinDistance = 10⁶ per ordered pair instead of +Inf.
const heMinDistance = 1e-6

// HypersphericalEnergy returns Σ_{i≠j} 1/‖ŵ_i − ŵ_j‖ (over ordered pairs,
// so each unordered pair counts twice) where ŵ_i are the rows of the
// neurons×dim matrix w normalised to unit length: the quantity OFT keeps
// fixed, since rotating every row by the same orthogonal matrix (W ←
// W·R_bdᵀ for a Linear weight) preserves all pairwise angles. Rows that are
// entirely zero have no direction and are skipped. Distances come from the
// float64 Gram matrix of the normalised rows, ‖ŵ_i − ŵ_j‖² = 2 − 2ŵ_i·ŵ_j,
// and are floored at 10⁻⁶: rows with identical (or, to float64 precision,
// indistinguishable) directions contribute 10⁶ per ordered pair. Rows are
// spread over kernels.ParallelFor; the result does not depend on the number
// of threads.
func HypersphericalEnergy(w []float32, neurons, dim int) float64 {
	if neurons < 0 || dim < 0 || len(w) < neurons*dim {
		panic(fmt.Sprintf("orth.HypersphericalEnergy: %d×%d needs %d values, got %d", neurons, dim, neurons*dim, len(w)))
	}
	// Normalise the non-zero rows into float64.
	u := make([]float64, 0, neurons*dim)
	for i := range neurons {
		row := w[i*dim : (i+1)*dim]
		nrm := norm32(row)
		if nrm == 0 {
			continue
		}
		for _, x := range row {
			u = append(u, float64(x)/nrm)
		}
	}
	n := 0
	if dim > 0 {
		n = len(u) / dim
	}
	if n < 2 {
		return 0
	}
	// partial[i] = Σ_{j>i} 1/d_ij; item t handles rows t and n−1−t so the
	// triangular work is balanced across chunks.
	partial := make([]float64, n)
	rowSum := func(i int) {
		ui := u[i*dim : (i+1)*dim]
		var s float64
		for j := i + 1; j < n; j++ {
			uj := u[j*dim : (j+1)*dim]
			var g float64
			for k, x := range ui {
				g += x * uj[k]
			}
			d := math.Sqrt(math.Max(2-2*g, 0))
			s += 1 / math.Max(d, heMinDistance)
		}
		partial[i] = s
	}
	half := (n + 1) / 2
	kernels.ParallelFor(half, 1+4096/(n*dim+1), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			rowSum(t)
			if o := n - 1 - t; o != t {
				rowSum(o)
			}
		}
	})
	var total float64
	for _, s := range partial {
		total += s
	}
	return 2 * total
}
