package orth

import (
	"fmt"
	"math"
	"sync"

	"github.com/orthotune/orthotune/kernels"
)

// Householder is the orthogonal factor of HRA (Householder reflection
// adaptation, Yuan et al. 2024) as HF PEFT defines it, built from r
// vectors: the columns of U, an in×r row-major matrix (PEFT's hra_u).
//
// Without Gram–Schmidt it is the product of the reflections through the
// normalised columns u_i = U[:,i]/‖U[:,i]‖, in column order:
//
//	H = (I − 2u_0u_0ᵀ)(I − 2u_1u_1ᵀ)…(I − 2u_{r−1}u_{r−1}ᵀ),  det H = (−1)^r.
//
// With Gram–Schmidt (PEFT's apply_GS) the columns are orthonormalised by
// modified Gram–Schmidt, in order, into Q (in×r) and H = I − 2QQᵀ, which is
// symmetric; it is orthogonal only when the columns are independent.
//
// Either way H is held in the compact form H = I − V·S·Vᵀ, V in×r (the unit
// vectors, or Q), S r×r (the compact-WY upper-triangular factor of the
// product, or 2I), so that applying H to n rows costs three GEMMs of about
// n·in·r rather than a dense in×in product, and the gradient with respect
// to U (Backward) four more. The small r-dimensional algebra is done in
// float64. A Householder reuses its buffers from one Set to the next; once
// built it is only read, so goroutines may apply it and take gradients
// through it concurrently.
type Householder struct {
	In, R int
	GS    bool // built with Gram–Schmidt

	inverse bool      // holds H⁻¹ (Inverse): not a product of reflections
	vt      []float32 // r×in, row i = v_i
	s       []float32 // r×r
	u64     []float64 // r×in, row i = U[:,i]
	v64     []float64 // r×in
	s64     []float64 // r×r
	nrm     []float64 // ‖U[:,i]‖ (no GS) or the i-th Gram–Schmidt residual's norm
	work    []float64 // Set's scratch
}

// hhPool holds Backward's float64 scratch: a Householder shared by
// data-parallel replicas is only read by Rows, RowsT, Left, LeftT and
// Backward, which may run concurrently.
var hhPool = sync.Pool{New: func() any { return new([]float64) }}

func hhGrow64(s []float64, n int) []float64 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float64, n)
}

func hhGrow32(s []float32, n int) []float32 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float32, n)
}

func hhDot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// hhReflect applies I − 2vvᵀ (v a unit vector) to x in place.
func hhReflect(x, v []float64) {
	c := 2 * hhDot(x, v)
	for k, vk := range v {
		x[k] -= c * vk
	}
}

// NewHouseholder builds H from U (in×r, row-major, one vector per column).
func NewHouseholder(u []float32, in, r int, gs bool) *Householder {
	h := new(Householder)
	h.Set(u, in, r, gs)
	return h
}

// Set rebuilds h from U (in×r, row-major), reusing h's buffers. A zero
// column (or, with Gram–Schmidt, a dependent one) gives NaN, as in PEFT.
func (h *Householder) Set(u []float32, in, r int, gs bool) {
	if in <= 0 || r <= 0 || len(u) < in*r {
		panic(fmt.Sprintf("orth: Householder.Set: %d values for %d×%d vectors", len(u), in, r))
	}
	h.In, h.R, h.GS, h.inverse = in, r, gs, false
	h.u64 = hhGrow64(h.u64, r*in)
	h.v64 = hhGrow64(h.v64, r*in)
	h.s64 = hhGrow64(h.s64, r*r)
	h.nrm = hhGrow64(h.nrm, r)
	for k := range in {
		for i := range r {
			h.u64[i*in+k] = float64(u[k*r+i])
		}
	}
	clear(h.s64)
	for i := range r {
		v := h.v64[i*in : (i+1)*in]
		copy(v, h.u64[i*in:(i+1)*in])
		if gs { // modified Gram–Schmidt: project the running v
			for j := range i {
				q := h.v64[j*in : (j+1)*in]
				c := hhDot(q, v)
				for k, qk := range q {
					v[k] -= c * qk
				}
			}
		}
		n := math.Sqrt(hhDot(v, v))
		h.nrm[i] = n
		for k := range v {
			v[k] /= n
		}
		h.s64[i*r+i] = 2
		if !gs { // compact WY: T[0:i, i] = −2·T[0:i, 0:i]·V[:, 0:i]ᵀ·v_i
			h.work = hhGrow64(h.work, r)
			w := h.work[:i]
			for j := range i {
				w[j] = hhDot(h.v64[j*in:(j+1)*in], v)
			}
			for a := range i {
				var s float64
				for b := a; b < i; b++ {
					s += h.s64[a*r+b] * w[b]
				}
				h.s64[a*r+i] = -2 * s
			}
		}
	}
	h.narrow()
}

func (h *Householder) narrow() {
	h.vt = hhGrow32(h.vt, h.R*h.In)
	h.s = hhGrow32(h.s, h.R*h.R)
	narrow(h.vt, h.v64)
	narrow(h.s, h.s64)
}

// DependentColumn returns the first column i of U whose Gram–Schmidt
// residual, the part of U[:,i] outside the span of the columns before it,
// has a norm below tol times ‖U[:,i]‖, and that ratio; −1 when none does
// or h was built without Gram–Schmidt. PEFT's default init with apply_GS
// (every column duplicated) gives exact duplicates: in float32 PEFT turns
// their rounding residue into a direction of no meaning, here they give
// NaN.
func (h *Householder) DependentColumn(tol float64) (int, float64) {
	if !h.GS {
		return -1, 0
	}
	for i := range h.R {
		u := h.u64[i*h.In : (i+1)*h.In]
		if rel := h.nrm[i] / math.Sqrt(hhDot(u, u)); !(rel >= tol) {
			return i, rel
		}
	}
	return -1, 0
}

// Vectors returns V as an in×r row-major matrix: the unit vectors u_i, or
// Gram–Schmidt's Q (PEFT's hra_unit_u and hra_gs_q layouts).
func (h *Householder) Vectors() []float32 {
	out := make([]float32, h.In*h.R)
	for i := range h.R {
		for k := range h.In {
			out[k*h.R+i] = h.vt[i*h.In+k]
		}
	}
	return out
}

// Dense returns H as an in×in row-major matrix.
func (h *Householder) Dense() []float32 {
	in, r := h.In, h.R
	m := make([]float64, in*in)
	vs := make([]float64, r*in) // S·Vᵀ
	for a := range r {
		for b := range r {
			if s := h.s64[a*r+b]; s != 0 {
				for k := range in {
					vs[a*in+k] += s * h.v64[b*in+k]
				}
			}
		}
	}
	for p := range in {
		for q := range in {
			var s float64
			for a := range r {
				s += h.v64[a*in+p] * vs[a*in+q]
			}
			m[p*in+q] = -s
		}
		m[p*in+p]++
	}
	out := make([]float32, in*in)
	narrow(out, m)
	return out
}

// rows computes out = x − x·V·S'·Vᵀ for rows×in x, with S' = Sᵀ (x·Hᵀ) or
// S (x·H). out may be x.
func (h *Householder) rows(x []float32, rows int, out []float32, transS bool) {
	in, r := h.In, h.R
	if len(x) < rows*in || len(out) < rows*in {
		panic(fmt.Sprintf("orth: Householder: %d and %d values for %d rows of %d", len(x), len(out), rows, in))
	}
	if rows == 0 {
		return
	}
	buf := getScratch(2 * rows * r)
	a, a2 := (*buf)[:rows*r], (*buf)[rows*r:]
	kernels.Gemm(false, true, rows, r, in, 1, x, in, h.vt, in, 0, a, r)
	kernels.Gemm(false, transS, rows, r, r, 1, a, r, h.s, r, 0, a2, r)
	if &out[0] != &x[0] {
		copy(out[:rows*in], x[:rows*in])
	}
	kernels.Gemm(false, false, rows, in, r, -1, a2, r, h.vt, in, 1, out, in)
	putScratch(buf)
}

// left computes out = W − V·S'·Vᵀ·W for in×cols W, with S' = Sᵀ (Hᵀ·W)
// or S (H·W). out may be w.
func (h *Householder) left(w []float32, cols int, out []float32, transS bool) {
	in, r := h.In, h.R
	if len(w) < in*cols || len(out) < in*cols {
		panic(fmt.Sprintf("orth: Householder: %d and %d values for %d×%d", len(w), len(out), in, cols))
	}
	buf := getScratch(2 * r * cols)
	b, b2 := (*buf)[:r*cols], (*buf)[r*cols:]
	kernels.Gemm(false, false, r, cols, in, 1, h.vt, in, w, cols, 0, b, cols)
	kernels.Gemm(transS, false, r, cols, r, 1, h.s, r, b, cols, 0, b2, cols)
	if &out[0] != &w[0] {
		copy(out[:in*cols], w[:in*cols])
	}
	kernels.Gemm(true, false, in, cols, r, -1, h.vt, in, b2, cols, 1, out, cols)
	putScratch(buf)
}

// RowsT sets out = x·Hᵀ for each of the rows×in rows of x (HRA's
// forward: the layer then computes base(x·Hᵀ) = x·(W·H)ᵀ + b). out may be x.
func (h *Householder) RowsT(x []float32, rows int, out []float32) { h.rows(x, rows, out, true) }

// Rows sets out = x·H for each row of x (the input gradient dz·H, and the
// merge W ← W·H of an (out, in) weight). out may be x.
func (h *Householder) Rows(x []float32, rows int, out []float32) { h.rows(x, rows, out, false) }

// LeftT sets out = Hᵀ·W for an in×cols W (the merge of a Conv1D weight,
// laid out (in, out)). out may be w.
func (h *Householder) LeftT(w []float32, cols int, out []float32) { h.left(w, cols, out, true) }

// Left sets out = H·W for an in×cols W. out may be w.
func (h *Householder) Left(w []float32, cols int, out []float32) { h.left(w, cols, out, false) }

// Inverse returns H⁻¹ in the same compact form (usable with Rows, RowsT,
// Left, LeftT, Dense, but not Backward): Hᵀ for the product of
// reflections; for Gram–Schmidt, by the Woodbury identity,
// I − Q·(QᵀQ − I/2)⁻¹·Qᵀ, which is exact also when Q is not orthonormal
// (PEFT's default init with apply_GS), where Hᵀ = H is not the inverse.
func (h *Householder) Inverse() (*Householder, error) {
	r := h.R
	inv := &Householder{In: h.In, R: r, GS: h.GS, inverse: true,
		v64: append([]float64(nil), h.v64...), s64: make([]float64, r*r)}
	if !h.GS {
		for a := range r {
			for b := range r {
				inv.s64[a*r+b] = h.s64[b*r+a]
			}
		}
	} else {
		m := h.gram() // G − S⁻¹ = QᵀQ − I/2
		for a := range r {
			m[a*r+a] -= 0.5
		}
		lu := append([]float64(nil), m...)
		piv := make([]int, r)
		if _, minPivot := luFactor(lu, r, piv); !(minPivot > 1e-12) {
			return nil, fmt.Errorf("orth: the Gram–Schmidt reflection I − 2QQᵀ is singular (min pivot %.3g): no inverse", minPivot)
		}
		luInverse(lu, r, piv, inv.s64)
	}
	inv.narrow()
	return inv, nil
}

// gram returns G = VᵀV (r×r, float64).
func (h *Householder) gram() []float64 {
	r, in := h.R, h.In
	g := make([]float64, r*r)
	for a := range r {
		for b := a; b < r; b++ {
			d := hhDot(h.v64[a*in:(a+1)*in], h.v64[b*in:(b+1)*in])
			g[a*r+b], g[b*r+a] = d, d
		}
	}
	return g
}

// OrthogonalityError returns ‖HᵀH − I‖_F in float64 from the r×r algebra:
// HᵀH = I + V·K·Vᵀ with K = SᵀGS − S − Sᵀ, G = VᵀV, so ‖HᵀH − I‖²_F =
// tr(KᵀGKG). It is rounding-level for the product of reflections and for
// Gram–Schmidt of independent vectors.
func (h *Householder) OrthogonalityError() float64 {
	r := h.R
	g, s := h.gram(), h.s64
	k := make([]float64, r*r)
	gs := make([]float64, r*r) // G·S
	for a := range r {
		for b := range r {
			var t float64
			for c := range r {
				t += g[a*r+c] * s[c*r+b]
			}
			gs[a*r+b] = t
		}
	}
	for a := range r {
		for b := range r {
			var t float64
			for c := range r {
				t += s[c*r+a] * gs[c*r+b]
			}
			k[a*r+b] = t - s[a*r+b] - s[b*r+a]
		}
	}
	// tr(Kᵀ G K G) = Σ (G K)∘(K G) … computed as Σ_ab (KᵀGK)_ab G_ba.
	gk := make([]float64, r*r)
	for a := range r {
		for b := range r {
			var t float64
			for c := range r {
				t += g[a*r+c] * k[c*r+b]
			}
			gk[a*r+b] = t
		}
	}
	var tr float64
	for a := range r {
		for b := range r {
			var t float64 // (KᵀGK)_ab
			for c := range r {
				t += k[c*r+a] * gk[c*r+b]
			}
			tr += t * g[b*r+a]
		}
	}
	return math.Sqrt(math.Max(0, tr))
}

// Determinant returns the sign and log|det| of H, as det(I_r − S·VᵀV)
// (Sylvester's identity) in float64: (−1)^r for the product of r
// reflections and for Gram–Schmidt of independent vectors.
func (h *Householder) Determinant() (sign int, logAbs float64) {
	r := h.R
	g := h.gram()
	m := make([]float64, r*r)
	for a := range r {
		for b := range r {
			var t float64
			for c := range r {
				t += h.s64[a*r+c] * g[c*r+b]
			}
			m[a*r+b] = -t
		}
		m[a*r+a]++
	}
	piv := make([]int, r)
	sign, _ = luFactor(m, r, piv)
	for i := range r {
		d := m[i*r+i]
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

// Backward adds to du (in×r, U's layout) the gradient of L with respect to
// U, where the forward computed z = x·Hᵀ for the rows×in rows of x and dz
// is dL/dz. (dL/dx = dz·H is Rows.) With G = dzᵀ·x, the gradient of L with
// respect to H, only G's products with r vectors are needed, four GEMMs of
// rows·in·r; the rest is O(in·r²) float64 work: for the product of
// reflections H = L_i·P_i·R_i, dL/du_i = −2(L_iᵀ·G·R_iᵀ + R_i·Gᵀ·L_i)·u_i,
// then through the normalisation; for Gram–Schmidt dL/dQ = −2(G + Gᵀ)·Q,
// then back through modified Gram–Schmidt.
func (h *Householder) Backward(x, dz []float32, rows int, du []float32) {
	if h.inverse {
		panic("orth: Householder.Backward on an Inverse")
	}
	in, r := h.In, h.R
	if len(x) < rows*in || len(dz) < rows*in || len(du) < in*r {
		panic(fmt.Sprintf("orth: Householder.Backward: %d, %d and %d values for %d rows of %d, r = %d", len(x), len(dz), len(du), rows, in, r))
	}
	if rows == 0 {
		return
	}
	// pt, qt (r×in): the vectors G multiplies: rows R_iᵀu_i and L_iu_i, or Q.
	work := hhPool.Get().(*[]float64)
	defer hhPool.Put(work)
	*work = hhGrow64(*work, 4*r*in+in)
	p64, q64, c64, scratch := (*work)[:r*in], (*work)[r*in:2*r*in], (*work)[2*r*in:3*r*in], (*work)[3*r*in:]
	bufPQ := getScratch(2 * r * in)
	pt, qt := (*bufPQ)[:r*in], (*bufPQ)[r*in:]
	if h.GS {
		copy(pt, h.vt)
		copy(qt, h.vt)
	} else {
		for i := range r {
			p, q := p64[i*in:(i+1)*in], q64[i*in:(i+1)*in]
			copy(p, h.v64[i*in:(i+1)*in])
			copy(q, p)
			for j := i + 1; j < r; j++ { // R_iᵀu_i = P_{r−1}…P_{i+1}u_i
				hhReflect(p, h.v64[j*in:(j+1)*in])
			}
			for j := i - 1; j >= 0; j-- { // L_iu_i = P_0…P_{i−1}u_i
				hhReflect(q, h.v64[j*in:(j+1)*in])
			}
		}
		narrow(pt, p64)
		narrow(qt, q64)
	}
	bufAB := getScratch(2 * rows * r)
	a, b := (*bufAB)[:rows*r], (*bufAB)[rows*r:]
	kernels.Gemm(false, true, rows, r, in, 1, x, in, pt, in, 0, a, r)
	kernels.Gemm(false, true, rows, r, in, 1, dz, in, qt, in, 0, b, r)
	putScratch(bufPQ)
	bufCD := getScratch(2 * in * r)
	c, d := (*bufCD)[:in*r], (*bufCD)[in*r:]
	kernels.Gemm(true, false, in, r, rows, 1, dz, in, a, r, 0, c, r) // G·p_i
	kernels.Gemm(true, false, in, r, rows, 1, x, in, b, r, 0, d, r)  // Gᵀ·q_i
	putScratch(bufAB)
	if h.GS {
		gq := c64 // dL/dQ, r×in
		for i := range r {
			for k := range in {
				gq[i*in+k] = -2 * (float64(c[k*r+i]) + float64(d[k*r+i]))
			}
		}
		putScratch(bufCD)
		h.backwardGS(gq, scratch, du)
		return
	}
	g := c64[:in]
	t := scratch[:in]
	for i := range r {
		for k := range in {
			g[k] = float64(c[k*r+i])
			t[k] = float64(d[k*r+i])
		}
		for j := 0; j < i; j++ { // L_iᵀ·(G·R_iᵀu_i) = P_{i−1}…P_0(…)
			hhReflect(g, h.v64[j*in:(j+1)*in])
		}
		for j := r - 1; j > i; j-- { // R_i·(Gᵀ·L_iu_i) = P_{i+1}…P_{r−1}(…)
			hhReflect(t, h.v64[j*in:(j+1)*in])
		}
		for k := range in {
			g[k] = -2 * (g[k] + t[k])
		}
		// through u = U/‖U‖: dU = (g − (g·u)u)/‖U‖
		v := h.v64[i*in : (i+1)*in]
		gu := hhDot(g, v)
		for k := range in {
			du[k*r+i] += float32((g[k] - gu*v[k]) / h.nrm[i])
		}
	}
	putScratch(bufCD)
}

// backwardGS takes dL/dQ (r×in, consumed) back through modified
// Gram–Schmidt into du. scratch holds at least (r+1)·in values.
func (h *Householder) backwardGS(gq, scratch []float64, du []float32) {
	in, r := h.In, h.R
	vb := scratch[:r*in] // the running v before each projection: vb[j] before q_j's
	gv := scratch[r*in : r*in+in]
	for i := r - 1; i >= 0; i-- {
		copy(vb[:in], h.u64[i*in:(i+1)*in])
		for j := range i {
			q, cur, next := h.v64[j*in:(j+1)*in], vb[j*in:(j+1)*in], vb[(j+1)*in:(j+2)*in]
			c := hhDot(q, cur)
			for k := range in {
				next[k] = cur[k] - c*q[k]
			}
		}
		qi, g := h.v64[i*in:(i+1)*in], gq[i*in:(i+1)*in]
		gd := hhDot(g, qi)
		for k := range in { // through q_i = v/‖v‖
			gv[k] = (g[k] - gd*qi[k]) / h.nrm[i]
		}
		for j := i - 1; j >= 0; j-- { // v_after = v_before − (q_j·v_before)q_j
			q, before, gqj := h.v64[j*in:(j+1)*in], vb[j*in:(j+1)*in], gq[j*in:(j+1)*in]
			a, c := hhDot(gv, q), hhDot(q, before)
			for k := range in {
				gqj[k] -= a*before[k] + c*gv[k]
				gv[k] -= a * q[k]
			}
		}
		for k := range in {
			du[k*r+i] += float32(gv[k])
		}
	}
}
