package kernels

// Elementwise loops of the training step that are not exponentials: the
// residual adds and SwiGLU's products. Each has a portable loop here and,
// on amd64 with AVX2, a vector loop in Go assembly (elementwise_amd64.s)
// with the same operations in the same order, so the results are the same
// bit for bit either way (but for which NaN a NaN result carries). The Go
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

// The vector loops, set by elementwise_amd64.go where the CPU has them;
// each takes a multiple of 8 values.
var (
	addVec        func(dst, src *float32, n int)
	mulMulVec     func(dst, a, b, c *float32, n int)
	swigluGradVec func(dg, du, dh, g, u, s *float32, n int)
)
