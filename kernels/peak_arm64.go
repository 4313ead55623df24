//go:build arm64 && !purego

package kernels

// peakLoopNEON (peak_arm64.s) runs 12 accumulators of 4 lanes, each
// iteration one FMLA per accumulator (c += y·z with y = 0, so the values
// stay where they started while every FMA executes at full rate: NEON
// throughput does not depend on the operands' values outside subnormals).
//
//go:noescape
func peakLoopNEON(n int, seed *[12][16]float32) float32

// Every arm64 CPU Go runs on has Advanced SIMD (NEON).
func peakLoopFor() (peakLoop, error) {
	return peakLoop{run: peakLoopNEON, flops: 12 * 4 * 2, name: "neon"}, nil
}
