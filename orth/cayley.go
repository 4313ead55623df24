package orth

import "fmt"

// Kind selects how a block's rotation is computed from its skew matrix Q.
type Kind int

const (
	// Exact is the Cayley transform R = (I − Q)(I + Q)⁻¹, computed by an
	// LU solve (PEFT's use_cayley_neumann: false). For skew Q it is exactly
	// orthogonal with determinant +1.
	Exact Kind = iota
	// Neumann is PEFT ≥ 0.18's truncated series with k = Terms:
	// I + 2Q + 2Q² + … + 2Q^(m−1) + Q^m, m = max(3, k−1) for k ≥ 3;
	// k = 2: I + 2Q; k ≤ 1: I. It expands (I + Q)(I − Q)⁻¹, the transpose of
	// Exact's rotation, and is only approximately orthogonal.
	Neumann
	// NeumannLegacy is the series PEFT 0.16–0.17 trained with:
	// I + 2Q + 2Q² + … + 2Q^(k−1); k = 2: I + 2Q; k ≤ 1: I.
	NeumannLegacy
)

// Cayley describes one rotation parametrisation: its Kind and, for the
// series kinds, PEFT's num_cayley_neumann_terms (ignored for Exact).
type Cayley struct {
	Kind  Kind
	Terms int
}

// String describes c for messages, e.g. "exact Cayley",
// "Cayley–Neumann (5 terms)" or
// "Cayley–Neumann, PEFT 0.16–0.17 series (5 terms)".
func (c Cayley) String() string {
	terms := fmt.Sprintf("%d terms", c.Terms)
	if c.Terms == 1 {
		terms = "1 term"
	}
	switch c.Kind {
	case Exact:
		return "exact Cayley"
	case Neumann:
		return "Cayley–Neumann (" + terms + ")"
	case NeumannLegacy:
		return "Cayley–Neumann, PEFT 0.16–0.17 series (" + terms + ")"
	}
	return fmt.Sprintf("Cayley(kind %d, %s)", int(c.Kind), terms)
}

// degree returns m, the highest power of Q in c's series.
func (c Cayley) degree() int {
	switch {
	case c.Terms <= 1:
		return 0
	case c.Terms == 2:
		return 1
	case c.Kind == Neumann:
		return max(3, c.Terms-1)
	default: // NeumannLegacy
		return c.Terms - 1
	}
}

// coef returns the coefficient of Q^j in c's series of degree m.
func (c Cayley) coef(j, m int) float64 {
	switch {
	case j == 0:
		return 1
	case j == m && c.Kind == Neumann && c.Terms >= 3:
		return 1
	default:
		return 2
	}
}

func (c Cayley) check(fn string) {
	if c.Kind != Exact && c.Kind != Neumann && c.Kind != NeumannLegacy {
		panic(fmt.Sprintf("orth.Cayley.%s: unknown kind %d", fn, int(c.Kind)))
	}
}

// Rotation writes R(Q) for one b×b block into r, computing in float64 and
// rounding once to float32. q is read as a general b×b matrix (UnpackSkew
// output in practice). For Exact, I + Q is invertible whenever Q is skew;
// if it is singular, r holds infinities or NaNs. r may alias q.
// Rotation is safe for concurrent use and allocates nothing in steady
// state.
func (c Cayley) Rotation(q []float32, b int, r []float32) {
	c.check("Rotation")
	checkSquare("Cayley.Rotation", q, b)
	checkSquare("Cayley.Rotation", r, b)
	bb := b * b
	if c.Kind == Exact {
		ws, m := getWorkspace(3, b)
		defer putWorkspace(ws)
		q64, a, inv := m[0], m[1], m[2]
		widen(q64, q[:bb])
		// A = I + Q; R = (I − Q)·A⁻¹ = A⁻¹ − Q·A⁻¹.
		copy(a, q64)
		for i := range b {
			a[i*b+i]++
		}
		luFactor(a, b, ws.piv)
		luInverse(a, b, ws.piv, inv)
		mul(a, q64, inv, b, false, false)
		for i := range bb {
			r[i] = float32(inv[i] - a[i])
		}
		return
	}
	m := c.degree()
	ws, mats := getWorkspace(3, b)
	defer putWorkspace(ws)
	q64, h, t := mats[0], mats[1], mats[2]
	widen(q64, q[:bb])
	// Horner: H_m = c_m·I, H_j = c_j·I + Q·H_{j+1}, R = H_0.
	setIdentity(h, b, c.coef(m, m))
	for j := m - 1; j >= 0; j-- {
		mul(t, q64, h, b, false, false)
		cj := c.coef(j, m)
		for i := range b {
			t[i*b+i] += cj
		}
		h, t = t, h
	}
	narrow(r[:bb], h)
}

// Backward writes dq = dL/dQ given g = dL/dR, treating Q as an
// unconstrained b×b matrix (apply SkewGrad for the gradient of the packed
// parameters). r must be Rotation's output for q; the exact path uses it
// (through A⁻¹ = (I + R)/2), the series paths recompute from q. dq may
// alias q, r or g. Computed in float64; safe for concurrent use.
//
// Exact: with A = I + Q, dR = −(I + R)·dQ·A⁻¹, so dL/dQ = −(I + R)ᵀ·G·A⁻ᵀ
// = −½·(I + R)ᵀ·G·(I + R)ᵀ.
// Series R = Σ c_k Q^k: dL/dQ = Σ_k c_k Σ_j (Q^j)ᵀ·G·(Q^(k−1−j))ᵀ, evaluated
// by a Horner recursion in 3m products of b×b matrices.
func (c Cayley) Backward(q, r, g []float32, b int, dq []float32) {
	c.check("Backward")
	for _, m := range [][]float32{q, r, g, dq} {
		checkSquare("Cayley.Backward", m, b)
	}
	bb := b * b
	if c.Kind == Exact {
		ws, m := getWorkspace(3, b)
		defer putWorkspace(ws)
		p, g64, t := m[0], m[1], m[2]
		widen(p, r[:bb])
		for i := range b {
			p[i*b+i]++
		}
		widen(g64, g[:bb])
		mul(t, p, g64, b, true, false) // (I+R)ᵀ·G
		mul(g64, t, p, b, false, true) // ·(I+R)ᵀ
		for i := range bb {
			dq[i] = float32(-0.5 * g64[i])
		}
		return
	}
	m := c.degree()
	if m == 0 {
		clear(dq[:bb])
		return
	}
	ws, mats := getWorkspace(5, b)
	defer putWorkspace(ws)
	q64, g64, h, acc, t := mats[0], mats[1], mats[2], mats[3], mats[4]
	widen(q64, q[:bb])
	widen(g64, g[:bb])
	// dQ = Σ_{j=0}^{m−1} (Qᵀ)^j·G·H_{j+1}ᵀ with H as in Rotation, summed
	// from j = m−1 down: acc ← G·H_{j+1}ᵀ + Qᵀ·acc while H steps down.
	setIdentity(h, b, c.coef(m, m))
	for j := m - 1; j >= 0; j-- {
		if j == m-1 {
			mul(acc, g64, h, b, false, true) // G·H_mᵀ
		} else {
			mul(t, q64, acc, b, true, false) // Qᵀ·acc
			copy(acc, t)
			mul(t, g64, h, b, false, true) // G·H_{j+1}ᵀ
			for i := range acc {
				acc[i] += t[i]
			}
		}
		if j > 0 {
			mul(t, q64, h, b, false, false)
			cj := c.coef(j, m)
			for i := range b {
				t[i*b+i] += cj
			}
			h, t = t, h
		}
	}
	narrow(dq[:bb], acc)
}
