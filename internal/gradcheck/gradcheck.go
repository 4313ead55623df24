package gradcheck

import "math"

// Central returns the central difference (L(x+h) − L(x−h)) / 2h of loss
// with respect to x[i], with step h·max(1, |x[i]|). x is perturbed in place
// and restored.
func Central(x []float32, i int, h float64, loss func() float64) float64 {
	orig := x[i]
	hi := orig + float32(h*math.Max(1, math.Abs(float64(orig))))
	lo := orig - (hi - orig)
	x[i] = hi
	lp := loss()
	x[i] = lo
	lm := loss()
	x[i] = orig
	return (lp - lm) / (float64(hi) - float64(lo))
}

// Richardson returns (4·D(h/2) − D(h)) / 3 for central differences D: the
// h² error term cancels, which matters for strongly curved losses such as a
// whole transformer's, where plain central differences at float32-friendly
// steps are dominated by it.
func Richardson(x []float32, i int, h float64, loss func() float64) float64 {
	return (4*Central(x, i, h/2, loss) - Central(x, i, h, loss)) / 3
}

// Estimator is Central or Richardson with a fixed step.
type Estimator func(x []float32, i int, loss func() float64) float64

// WithStep fixes the step of Central or Richardson.
func WithStep(f func([]float32, int, float64, func() float64) float64, h float64) Estimator {
	return func(x []float32, i int, loss func() float64) float64 { return f(x, i, h, loss) }
}

// MaxError returns max |estimate − analytic[i]| over the indexes idx (all
// of x when idx is nil).
func MaxError(x, analytic []float32, idx []int, est Estimator, loss func() float64) float64 {
	var worst float64
	check := func(i int) {
		worst = math.Max(worst, math.Abs(est(x, i, loss)-float64(analytic[i])))
	}
	if idx == nil {
		for i := range x {
			check(i)
		}
	} else {
		for _, i := range idx {
			check(i)
		}
	}
	return worst
}

// MaxAbs returns max |v[i]|.
func MaxAbs(v []float32) float64 {
	var m float64
	for _, x := range v {
		m = math.Max(m, math.Abs(float64(x)))
	}
	return m
}

// WeightedSum returns Σ y·g in float64: the scalar loss whose gradient with
// respect to y is g, the usual probe for one layer's backward.
func WeightedSum(y, g []float32) float64 {
	var s float64
	for i := range y {
		s += float64(y[i]) * float64(g[i])
	}
	return s
}
