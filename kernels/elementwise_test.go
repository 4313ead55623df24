package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestElementwise checks Add, MulMul, SwiGLUGrad, RotatePairs, ScaleMul and
// MulSubScaled against their formulas in float32 bit for bit, and
// SumSquares and DotMul against sequential float64 sums, on every
// length up to past a few vectors and with values of every sign and size
// (zeros, infinities and NaN among them), the values around each output
// left alone.
func TestElementwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-40, 3e38}
	draw := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			if rng.IntN(10) == 0 {
				x[i] = special[rng.IntN(len(special))]
			} else {
				x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3)))
			}
		}
		return x
	}
	// Bit for bit, but any NaN for a NaN: which of two NaN operands x86
	// passes on depends on the order the compiler put them in.
	same := func(a, b []float32) bool {
		return slices.EqualFunc(a, b, func(x, y float32) bool {
			return math.Float32bits(x) == math.Float32bits(y) || x != x && y != y
		})
	}
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 31, 32, 33, 40, 127, 1000} {
		a, b, c, d := draw(n), draw(n), draw(n), draw(n)
		for i := range c {
			c[i] = 1 / (1 + float32(math.Exp(-float64(b[i])))) // a sigmoid, as SwiGLU keeps
		}

		// Add: one past the end of dst is left alone.
		dst := append(slices.Clone(a), 42)
		Add(dst[:n], b)
		want := slices.Clone(a)
		for i := range want {
			want[i] += b[i]
		}
		if !same(dst[:n], want) || dst[n] != 42 {
			t.Errorf("Add, n = %d: differs from dst[i] += src[i]", n)
		}

		// MulMul.
		dst = append(make([]float32, n), 42)
		MulMul(dst[:n], a, b, d)
		for i := range want {
			want[i] = a[i] * b[i] * d[i]
		}
		if !same(dst[:n], want) || dst[n] != 42 {
			t.Errorf("MulMul, n = %d: differs from (a·b)·c", n)
		}

		// SwiGLUGrad: dh a, g b, u d, s c.
		dg, du := append(make([]float32, n), 42), append(make([]float32, n), 42)
		SwiGLUGrad(dg[:n], du[:n], a, b, d, c)
		wantG, wantU := make([]float32, n), make([]float32, n)
		for i := range wantG {
			wantU[i] = a[i] * b[i] * c[i]
			wantG[i] = a[i] * d[i] * c[i] * (1 + b[i]*(1-c[i]))
		}
		swigluGradGo(wantG, wantU, a, b, d, c) // the portable loop
		if !same(dg[:n], wantG) || !same(du[:n], wantU) || dg[n] != 42 || du[n] != 42 {
			t.Errorf("SwiGLUGrad, n = %d: differs from the portable loop", n)
		}

		// RotatePairs, both ways.
		for _, inverse := range []bool{false, true} {
			x1, x2 := append(slices.Clone(a), 42), append(slices.Clone(b), 42)
			RotatePairs(x1[:n], x2[:n], c, d, inverse)
			w1, w2 := make([]float32, n), make([]float32, n)
			for i := range w1 {
				si := d[i]
				if inverse {
					si = -si
				}
				w1[i] = a[i]*c[i] - b[i]*si
				w2[i] = b[i]*c[i] + a[i]*si
			}
			if !same(x1[:n], w1) || !same(x2[:n], w2) || x1[n] != 42 || x2[n] != 42 {
				t.Errorf("RotatePairs(inverse %v), n = %d: differs from the formula", inverse, n)
			}
		}

		// ScaleMul and MulSubScaled.
		dst = append(make([]float32, n), 42)
		ScaleMul(dst[:n], a, b, 0.37)
		for i := range want {
			want[i] = a[i] * (b[i] * 0.37)
		}
		if !same(dst[:n], want) || dst[n] != 42 {
			t.Errorf("ScaleMul, n = %d: differs from w·(x·s)", n)
		}
		MulSubScaled(dst[:n], a, b, d, 1.7, -0.3)
		for i := range want {
			want[i] = 1.7*(a[i]*b[i]) - d[i]*-0.3
		}
		if !same(dst[:n], want) || dst[n] != 42 {
			t.Errorf("MulSubScaled, n = %d: differs from p·(a·b) − x·q", n)
		}

		// SumSquares and DotMul: float64 sums in another order, so to
		// within float64 rounding of the sum of magnitudes (finite values
		// only: the specials are replaced).
		fa, fb, fd := slices.Clone(a), slices.Clone(b), slices.Clone(d)
		for _, x := range [][]float32{fa, fb, fd} {
			for i, v := range x {
				if math.IsInf(float64(v), 0) || v != v || math.Abs(float64(v)) > 1e18 {
					x[i] = 0.5
				}
			}
		}
		var sq, sqAbs, dot, dotAbs float64
		for i := range fa {
			sq += float64(fa[i]) * float64(fa[i])
			p := float64(fb[i]*fd[i]) * float64(fa[i])
			dot += p
			dotAbs += math.Abs(p)
		}
		sqAbs = sq
		if got := SumSquares(fa); math.Abs(got-sq) > 1e-14*sqAbs {
			t.Errorf("SumSquares, n = %d: %v, want %v", n, got, sq)
		}
		if got := DotMul(fb, fd, fa); math.Abs(got-dot) > 1e-14*dotAbs {
			t.Errorf("DotMul, n = %d: %v, want %v", n, got, dot)
		}
	}
}

// BenchmarkElementwise runs each loop, vector and portable, on a
// SmolLM2-sized activation (512 tokens × 576) and SwiGLU's (× 1536).
//
//	go test -run '^$' -bench Elementwise ./kernels
func BenchmarkElementwise(b *testing.B) {
	const n, wide = 512 * 576, 512 * 1536
	x := make([][]float32, 6)
	for i := range x {
		x[i] = make([]float32, wide)
		for j := range x[i] {
			x[i][j] = float32(j%97) * 0.01
		}
	}
	for _, impl := range []string{"vector", "go"} {
		b.Run(impl+"/Add", func(b *testing.B) {
			for b.Loop() {
				if impl == "go" {
					addGo(x[0][:n], x[1])
				} else {
					Add(x[0][:n], x[1])
				}
			}
		})
		b.Run(impl+"/MulMul", func(b *testing.B) {
			for b.Loop() {
				if impl == "go" {
					mulMulGo(x[0], x[1], x[2], x[3])
				} else {
					MulMul(x[0], x[1], x[2], x[3])
				}
			}
		})
		b.Run(impl+"/SwiGLUGrad", func(b *testing.B) {
			for b.Loop() {
				if impl == "go" {
					swigluGradGo(x[0], x[1], x[2], x[3], x[4], x[5])
				} else {
					SwiGLUGrad(x[0], x[1], x[2], x[3], x[4], x[5])
				}
			}
		})
	}
}
