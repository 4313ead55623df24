package kernels

// Elementwise loops of the training step that are not exponentials: the
// residual adds, SwiGLU's products, RMSNorm's sums and products and RoPE's
// rotation. Each has a portable loop here and, on amd64 with AVX2, a vector
// loop in Go assembly (elementwise_amd64.s) with the same operations in the
// same order, so the results are the same bit for bit either way (but for
// which NaN a NaN result carries) — except SumSquares' and DotMul's float64
// sums, which the vector loops add in another order. The Go
// compiler emits one scalar operation a value for these loops; the vector
// ones take 8: on a SmolLM2-sized activation, one Zen 5 core, Add 94 → 27
// µs, MulMul 369–431 → 143, SwiGLUGrad 1125–1136 → 224–239
// (BenchmarkElementwise).

// Add sets dst[i] += src[i] for i < len(dst); src must be at least as long.
func Add(dst, src []float32) {
	src = src[:len(dst)]
	n := 0
	if addVec != nil && len(dst) >= 8 {
		n = len(dst) &^ 7
		addVec(&dst[0], &src[0], n)
	}
	addGo(dst[n:], src[n:])
}

func addGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

// MulMul sets dst[i] = (a[i]·b[i])·c[i] for i < len(dst): SwiGLU's
// silu(g)·u as (g·σ(g))·u. a, b and c must be at least as long as dst.
func MulMul(dst, a, b, c []float32) {
	a, b, c = a[:len(dst)], b[:len(dst)], c[:len(dst)]
	n := 0
	if mulMulVec != nil && len(dst) >= 8 {
		n = len(dst) &^ 7
		mulMulVec(&dst[0], &a[0], &b[0], &c[0], n)
	}
	mulMulGo(dst[n:], a[n:], b[n:], c[n:])
}

func mulMulGo(dst, a, b, c []float32) {
	a, b, c = a[:len(dst)], b[:len(dst)], c[:len(dst)]
	for i := range dst {
		dst[i] = a[i] * b[i] * c[i]
	}
}

// SwiGLUGrad sets, for h = silu(g)·u = g·σ(g)·u and dh its gradient,
//
//	du[i] = (dh[i]·g[i])·s[i]
//	dg[i] = ((dh[i]·u[i])·s[i])·(1 + g[i]·(1 − s[i]))
//
// where s = σ(g) (silu'(g) = σ(g)·(1 + g·(1 − σ(g)))), for i < len(dh). The
// other slices must be at least as long.
func SwiGLUGrad(dg, du, dh, g, u, s []float32) {
	n := len(dh)
	dg, du, g, u, s = dg[:n], du[:n], g[:n], u[:n], s[:n]
	done := 0
	if swigluGradVec != nil && n >= 8 {
		done = n &^ 7
		swigluGradVec(&dg[0], &du[0], &dh[0], &g[0], &u[0], &s[0], done)
	}
	swigluGradGo(dg[done:], du[done:], dh[done:], g[done:], u[done:], s[done:])
}

func swigluGradGo(dg, du, dh, g, u, s []float32) {
	n := len(dh)
	dg, du, g, u, s = dg[:n], du[:n], g[:n], u[:n], s[:n]
	for i, d := range dh {
		gi, si := g[i], s[i]
		du[i] = d * gi * si
		dg[i] = d * u[i] * si * (1 + gi*(1-si))
	}
}

// RotatePairs turns each pair (a[i], b[i]) by the angle whose cosine and
// sine are cos[i] and sin[i] (by its opposite when inverse), RoPE's
// rotation of a head's two halves:
//
//	a[i], b[i] = a[i]·cos[i] − b[i]·sin[i], b[i]·cos[i] + a[i]·sin[i]
//
// for i < len(a); b, cos and sin must be at least as long.
func RotatePairs(a, b, cos, sin []float32, inverse bool) {
	n := len(a)
	b, cos, sin = b[:n], cos[:n], sin[:n]
	done := 0
	if rotatePairsVec != nil && n >= 8 {
		done = n &^ 7
		sign := float32(1)
		if inverse {
			sign = -1
		}
		rotatePairsVec(&a[0], &b[0], &cos[0], &sin[0], done, sign)
	}
	for i := done; i < n; i++ {
		s := sin[i]
		if inverse {
			s = -s
		}
		x1, x2 := a[i], b[i]
		a[i] = x1*cos[i] - x2*s
		b[i] = x2*cos[i] + x1*s
	}
}

// SumSquares returns Σ x[i]² in float64 (each square exact), summed in
// an order that depends only on len(x).
func SumSquares(x []float32) float64 {
	var sum float64
	done := 0
	if sumSquaresVec != nil && len(x) >= 8 {
		done = len(x) &^ 7
		sum = sumSquaresVec(&x[0], done)
	}
	for _, v := range x[done:] {
		sum += float64(v) * float64(v)
	}
	return sum
}

// DotMul returns Σ float64(a[i]·b[i])·float64(x[i]) for i < len(x) (the
// first product rounded to float32, as RMSNorm's backward forms dy·w),
// summed in an order that depends only on len(x). a and b must be at
// least as long as x.
func DotMul(a, b, x []float32) float64 {
	n := len(x)
	a, b = a[:n], b[:n]
	var sum float64
	done := 0
	if dotMulVec != nil && n >= 8 {
		done = n &^ 7
		sum = dotMulVec(&a[0], &b[0], &x[0], done)
	}
	for i := done; i < n; i++ {
		sum += float64(a[i]*b[i]) * float64(x[i])
	}
	return sum
}

// ScaleMul sets dst[i] = w[i]·(x[i]·s) for i < len(dst) (RMSNorm's
// output); w and x must be at least as long.
func ScaleMul(dst, w, x []float32, s float32) {
	n := len(dst)
	w, x = w[:n], x[:n]
	done := 0
	if scaleMulVec != nil && n >= 8 {
		done = n &^ 7
		scaleMulVec(&dst[0], &w[0], &x[0], done, s)
	}
	for i := done; i < n; i++ {
		dst[i] = w[i] * (x[i] * s)
	}
}

// MulSubScaled sets dst[i] = p·(a[i]·b[i]) − x[i]·q for i < len(dst)
// (RMSNorm's input gradient); a, b and x must be at least as long.
func MulSubScaled(dst, a, b, x []float32, p, q float32) {
	n := len(dst)
	a, b, x = a[:n], b[:n], x[:n]
	done := 0
	if mulSubScaledVec != nil && n >= 8 {
		done = n &^ 7
		mulSubScaledVec(&dst[0], &a[0], &b[0], &x[0], done, p, q)
	}
	for i := done; i < n; i++ {
		dst[i] = p*(a[i]*b[i]) - x[i]*q
	}
}

// The vector loops, set by elementwise_amd64.go where the CPU has them;
// each takes a multiple of 8 values.
var (
	addVec          func(dst, src *float32, n int)
	mulMulVec       func(dst, a, b, c *float32, n int)
	swigluGradVec   func(dg, du, dh, g, u, s *float32, n int)
	rotatePairsVec  func(a, b, cos, sin *float32, n int, sign float32)
	sumSquaresVec   func(x *float32, n int) float64
	dotMulVec       func(a, b, x *float32, n int) float64
	scaleMulVec     func(dst, w, x *float32, n int, s float32)
	mulSubScaledVec func(dst, a, b, x *float32, n int, p, q float32)
)
