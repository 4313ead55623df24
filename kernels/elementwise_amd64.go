//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func addAVX2(dst, src *float32, n int)

//go:noescape
func mulMulAVX2(dst, a, b, c *float32, n int)

//go:noescape
func swigluGradAVX2(dg, du, dh, gate, up, sig *float32, n int)

func init() {
	if cpu.X86.HasAVX2 {
		addVec, mulMulVec, swigluGradVec = addAVX2, mulMulAVX2, swigluGradAVX2
	}
}
