// Package gradcheck estimates gradients by finite differences, for tests
// that hold a layer's or a model's analytic backward against them. Losses
// are accumulated in float64; steps are divided by the difference of the
// float32 values actually stored, so rounding of x ± h does not bias the
// estimate.
package gradcheck
