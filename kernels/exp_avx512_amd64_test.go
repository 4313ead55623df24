//go:build amd64 && !purego

package kernels

import (
	"math"
	"math/rand"
	"testing"

	"golang.org/x/sys/cpu"
)

// The AVX-512F loops are tested wherever the CPU has AVX-512F (CPUID, as
// the init that chooses them reads it); elsewhere their subtests are
// skipped and say so. They must give the AVX2 loops' results bit for bit,
// and both must match vecModel, a scalar Go model of the vector loops.

func init() {
	if cpu.X86.HasAVX512F {
		expImplsMore = append(expImplsMore, expImpl{"avx512", expSliceVec512, sigmoidVec512, maxVec512})
	}
}

func needAVX512(t *testing.T) {
	t.Helper()
	if !cpu.X86.HasAVX512F {
		t.Skip("skipped: no AVX-512F (CPUID lacks it, or GODEBUG=cpu.avx512f=off)")
	}
}

// expCoreFMA is what one lane of EXP8/EXP16 computes for x in
// [−87.33, expFastMax]: expCore with its multiply-adds fused.
func expCoreFMA(x float32) float32 {
	f := math.Float32frombits
	log2e, roundup := f(0x3fb8aa3b), f(0x4b400000)
	ln2Hi, ln2Lo := f(0x3f318000), f(0xb95e8083)
	p := [6]float32{f(0x39506967), f(0x3ab743ce), f(0x3c088908), f(0x3d2aa9c1), f(0x3e2aaaaa), f(0x3f000000)}
	fma := func(a, b, c float32) float32 { return float32(math.FMA(float64(a), float64(b), float64(c))) }
	t := fma(x, log2e, roundup)
	fn := float32(t - roundup)
	n := int32(math.Float32bits(t) - math.Float32bits(roundup))
	r := fma(-fn, ln2Hi, x)
	r = fma(-fn, ln2Lo, r)
	y := p[0]
	for _, c := range p[1:] {
		y = fma(r, y, c)
	}
	y = fma(float32(r*r), y, float32(r+1))
	return y * math.Float32frombits(uint32(n+127)<<23)
}

// vecLane is a lane of the vector loops, or false where the block of
// eight holding x goes to the scalar loop.
func vecLane(x float32) (float32, bool) {
	if !(x <= expFastMax) { // above, or NaN
		return 0, false
	}
	if x < -87.33654475055310 {
		return 0, true
	}
	return expCoreFMA(x), true
}

// expSliceModel is expSliceVec in scalar Go: blocks of eight from where
// each call starts, float64 lanes summed as Y7/Y8 (Z7) are.
func expSliceModel(dst, src []float32, shift float32) float64 {
	var sum float64
	for i := 0; i < len(src); {
		var acc [8]float64
	blocks:
		for ; i+8 <= len(src); i += 8 {
			var e [8]float32
			for j := range 8 {
				v, ok := vecLane(src[i+j] + shift)
				if !ok {
					break blocks
				}
				e[j] = v
			}
			copy(dst[i:], e[:])
			for j := range 8 {
				acc[j] += float64(e[j])
			}
		}
		a := [4]float64{acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]}
		sum += (a[0] + a[2]) + (a[1] + a[3])
		if i < len(src) {
			end := min(i+8, len(src))
			sum += expSliceGo(dst[i:end], src[i:end], shift)
			i = end
		}
	}
	return sum
}

func sigmoidModel(dst, src []float32) {
	for i := 0; i < len(src); {
	blocks:
		for ; i+8 <= len(src); i += 8 {
			var e [8]float32
			for j := range 8 {
				v, ok := vecLane(0 - src[i+j])
				if !ok {
					break blocks
				}
				e[j] = 1 / float32(1+v)
			}
			copy(dst[i:], e[:])
		}
		if i < len(src) {
			end := min(i+8, len(src))
			sigmoidGo(dst[i:end], src[i:end])
			i = end
		}
	}
}

// expEdges are the arguments where the paths part: the ends of expCore's
// range, the results that are subnormal, infinities, NaN.
func expEdges() []float32 {
	f32 := func(x float64) float32 { return float32(x) }
	up := func(x float32) float32 { return math.Nextafter32(x, float32(math.Inf(1))) }
	down := func(x float32) float32 { return math.Nextafter32(x, float32(math.Inf(-1))) }
	fm, mn := f32(expFastMax), f32(-87.33654475055310)
	e := []float32{
		0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 1e-45, -1e-45, 1e-40,
		1e30, -1e30, math.MaxFloat32, -math.MaxFloat32,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.Float32frombits(0x7fc00001), math.Float32frombits(0xffc00000),
		fm, up(fm), down(fm), up(up(fm)), down(down(fm)), 88.72, 88.7228, 88.73, 89,
		mn, up(mn), down(mn), -87.3, -87.2, -87, -86.9, -87.33, -87.34, -88, -103, -104, -150,
		0.34657359, -0.34657359, 0.5, 1, -1, 44.36, -44.36,
	}
	for x := float32(-87.34); x < -86.5; x += 0.0173 { // subnormal and tiny results
		e = append(e, x)
	}
	return e
}

// randArgs fills n arguments: mostly ordinary values, some edges, at a
// density that varies from slice to slice.
func randArgs(r *rand.Rand, n int) []float32 {
	edges := expEdges()
	special := []float64{0, 0.002, 0.03, 0.3}[r.Intn(4)]
	x := make([]float32, n)
	for i := range x {
		switch {
		case r.Float64() < special:
			x[i] = edges[r.Intn(len(edges))]
		case r.Intn(3) == 0:
			x[i] = float32(r.NormFloat64() * 4)
		default:
			x[i] = float32(r.Float64()*200 - 100)
		}
	}
	return x
}

func sameBits(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }

func sameSum(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (a != a && b != b)
}

func TestExpVectorBitIdentical(t *testing.T) {
	type loop struct {
		name string
		exp  func(dst, src []float32, shift float32) float64
		sig  func(dst, src []float32)
		need func(*testing.T)
	}
	loops := []loop{{"avx512", expSliceVec512, sigmoidVec512, needAVX512}}
	hasAVX2 := cpu.X86.HasAVX2 && cpu.X86.HasFMA
	if hasAVX2 {
		loops = append(loops, loop{"avx2", expSliceVec, sigmoidVec, func(*testing.T) {}})
	}
	// What this build's inits chose (in the SIMD build too, whose archsimd
	// loops must not win over these).
	loops = append(loops, loop{"selected(" + vectorExp + ")", expSliceImpl, sigmoidImpl, func(t *testing.T) {
		if vectorExp == "" {
			t.Skip("skipped: no vector loops chosen on this CPU")
		}
	}})
	shifts := []float32{0, -1.5, 3.25, -80, 40}
	for _, l := range loops {
		t.Run(l.name, func(t *testing.T) {
			l.need(t)
			r := rand.New(rand.NewSource(19))
			diffGo := 0
			total := 0
			check := func(src []float32, shift float32) {
				t.Helper()
				n := len(src)
				got, model, avx2 := make([]float32, n), make([]float32, n), make([]float32, n)
				gs := l.exp(got, src, shift)
				ms := expSliceModel(model, src, shift)
				var as float64
				if hasAVX2 {
					as = expSliceVec(avx2, src, shift)
				}
				scalar := make([]float32, n)
				expSliceGo(scalar, src, shift)
				for i := range src {
					if !sameBits(got[i], model[i]) {
						t.Fatalf("n=%d shift=%g: exp(%g) at %d = %#x, model %#x", n, shift, src[i]+shift, i, math.Float32bits(got[i]), math.Float32bits(model[i]))
					}
					if hasAVX2 && !sameBits(got[i], avx2[i]) {
						t.Fatalf("n=%d shift=%g: exp(%g) at %d = %#x, AVX2 loop %#x", n, shift, src[i]+shift, i, math.Float32bits(got[i]), math.Float32bits(avx2[i]))
					}
					if !sameBits(got[i], scalar[i]) {
						diffGo++
						if d := ulpDiff(got[i], math.Exp(float64(src[i]+shift))); d > 2 && !(got[i] == 0 && float64(scalar[i]) < 0x1p-126) {
							t.Fatalf("exp(%g) = %g, %.2f ulp from exact", src[i]+shift, got[i], d)
						}
					}
				}
				total += n
				if !sameSum(gs, ms) || (hasAVX2 && !sameSum(gs, as)) {
					t.Fatalf("n=%d shift=%g: sum %x, model %x, AVX2 loop %x", n, shift, math.Float64bits(gs), math.Float64bits(ms), math.Float64bits(as))
				}
				// In place.
				in := append([]float32(nil), src...)
				if s := l.exp(in, in, shift); !sameSum(s, gs) {
					t.Fatalf("n=%d in place: sum %g, want %g", n, s, gs)
				}
				for i := range in {
					if !sameBits(in[i], got[i]) {
						t.Fatalf("n=%d in place: at %d %g, want %g", n, i, in[i], got[i])
					}
				}
				l.sig(got, src)
				sigmoidModel(model, src)
				if hasAVX2 {
					sigmoidVec(avx2, src)
				}
				for i := range src {
					if !sameBits(got[i], model[i]) || (hasAVX2 && !sameBits(got[i], avx2[i])) {
						t.Fatalf("n=%d: sigmoid(%g) at %d = %#x, model %#x, AVX2 loop %#x", n, src[i], i, math.Float32bits(got[i]), math.Float32bits(model[i]), math.Float32bits(avx2[i]))
					}
				}
			}
			for rep := range 30 {
				for n := 0; n <= 100; n++ {
					src := randArgs(r, n+3)
					check(src[rep%4:][:n], shifts[rep%len(shifts)])
				}
			}
			for range 200 {
				check(randArgs(r, 1+r.Intn(5000)), shifts[r.Intn(len(shifts))])
			}
			edges := expEdges()
			for off := range len(edges) { // every edge in every lane
				src := make([]float32, 64)
				for i := range src {
					src[i] = edges[(off+i)%len(edges)]
				}
				for _, sh := range shifts {
					check(src, sh)
				}
			}
			t.Logf("%d results; %d differ from the scalar loop's (unfused expCore) by ≤ 2 ulp", total, diffGo)
		})
	}
}

func TestMaxVectorBitIdentical(t *testing.T) {
	needAVX512(t)
	hasAVX2 := cpu.X86.HasAVX2 && cpu.X86.HasFMA
	r := rand.New(rand.NewSource(3))
	negZero := float32(math.Copysign(0, -1))
	pool := []float32{0, negZero, 0, negZero, -1, 2, 2, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), -5}
	// modelLanes is maxAVX2's fold: VMAXPS(m, v) is v unless m > v.
	modelLanes := func(x []float32) (lanes [8]float32, nan bool) {
		lanes = [8]float32(x[:8])
		for i := 0; i+8 <= len(x); i += 8 {
			for j := range 8 {
				v := x[i+j]
				nan = nan || v != v
				if !(lanes[j] > v) {
					lanes[j] = v
				}
			}
		}
		return lanes, nan
	}
	check := func(x []float32) {
		t.Helper()
		got, want := maxVec512(x), maxGo(x)
		if got != want && !(got != got && want != want) {
			t.Fatalf("Max(%v) = %g, scalar %g", x, got, want)
		}
		if hasAVX2 {
			if a := maxVec(x); !sameBits(got, a) && !(got != got && a != a) {
				t.Fatalf("Max(%v) = %#x, AVX2 loop %#x", x, math.Float32bits(got), math.Float32bits(a))
			}
		}
		if len(x) < 8 {
			return
		}
		var lanes, lanes2 [8]float32
		nan := maxAVX512F(&x[0], len(x), &lanes)
		ml, mnan := modelLanes(x)
		if nan != mnan {
			t.Fatalf("len %d: nan %v, want %v", len(x), nan, mnan)
		}
		if hasAVX2 && maxAVX2(&x[0], len(x), &lanes2) != nan {
			t.Fatalf("len %d: nan differs from maxAVX2's", len(x))
		}
		if nan {
			return
		}
		for j := range 8 {
			if !sameBits(lanes[j], ml[j]) || (hasAVX2 && !sameBits(lanes[j], lanes2[j])) {
				t.Fatalf("len %d: lanes %v, model %v, maxAVX2 %v", len(x), lanes, ml, lanes2)
			}
		}
	}
	for rep := range 40 {
		for n := 0; n <= 100; n++ {
			x := make([]float32, n)
			for i := range x {
				if rep%2 == 0 {
					x[i] = pool[r.Intn(len(pool)-2)] // no NaN: the lanes count
				} else if r.Intn(50) == 0 {
					x[i] = pool[r.Intn(len(pool))]
				} else {
					x[i] = float32(r.NormFloat64())
				}
			}
			check(x)
		}
	}
	for range 300 {
		x := make([]float32, 8+r.Intn(3000))
		for i := range x {
			if r.Intn(3) == 0 {
				x[i] = pool[r.Intn(4)]
			} else {
				x[i] = -float32(r.Intn(3))
			}
		}
		if r.Intn(4) == 0 {
			x[r.Intn(len(x))] = float32(math.NaN())
		}
		check(x)
	}
}
