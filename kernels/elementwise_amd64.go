//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func addAVX2(dst, src *float32, n int)

//go:noescape
func mulMulAVX2(dst, a, b, c *float32, n int)

//go:noescape
func swigluGradAVX2(dg, du, dh, gate, up, sig *float32, n int)

//go:noescape
func rotatePairsAVX2(a, b, cos, sin *float32, n int, sign float32)

//go:noescape
func sumSquaresAVX2(x *float32, n int) float64

//go:noescape
func dotMulAVX2(a, b, x *float32, n int) float64

//go:noescape
func scaleMulAVX2(dst, w, x *float32, n int, s float32)

//go:noescape
func mulSubScaledAVX2(dst, a, b, x *float32, n int, p, q float32)

func init() {
	if cpu.X86.HasAVX2 {
		addVec, mulMulVec, swigluGradVec = addAVX2, mulMulAVX2, swigluGradAVX2
		rotatePairsVec, sumSquaresVec, dotMulVec = rotatePairsAVX2, sumSquaresAVX2, dotMulAVX2
		scaleMulVec, mulSubScaledVec = scaleMulAVX2, mulSubScaledAVX2
	}
}
