//go:build amd64 && !purego

package kernels

import (
	"errors"

	"golang.org/x/sys/cpu"
)

// The peak loops in Go assembly (peak_amd64.s): 12 accumulators c_i =
// c_i·y + z with y = 0.999 and z = 0.001 broadcast (c converges to 1, so no
// value overflows or turns subnormal), the loop holding nothing but FMAs.

//go:noescape
func peakLoopAVX512(n int, seed *[12][16]float32) float32

//go:noescape
func peakLoopAVX2(n int, seed *[12][16]float32) float32

func peakLoopFor() (peakLoop, error) {
	switch {
	case cpu.X86.HasAVX512F:
		return peakLoop{run: peakLoopAVX512, flops: 12 * 16 * 2, name: "avx512"}, nil
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return peakLoop{run: peakLoopAVX2, flops: 12 * 8 * 2, name: "avx2"}, nil
	}
	return peakLoop{}, errors.New("kernels.PeakGFLOPS: the CPU has neither AVX-512 nor AVX2 with FMA")
}
