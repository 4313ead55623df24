//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

// The AVX2 loops are tested wherever the CPU has them, also in the SIMD
// build, where the AVX-512 ones are chosen over them.
func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		expImplsMore = append(expImplsMore, expImpl{"avx2", expSliceVec, sigmoidVec, maxVec})
	}
}
