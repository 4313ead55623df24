package orth

import (
	"testing"

	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/tensor"
)

// BenchmarkRotateReplica: a SmolLM2-sized layer's rotations (512 tokens,
// 576 wide, b = 32) on one thread, as each replica of a data-parallel step
// runs them.
func BenchmarkRotateReplica(bm *testing.B) {
	defer kernels.SetThreads(kernels.SetThreads(1))
	rng := tensor.NewRNG(24)
	rows, b, width := 512, 32, 576
	blocks := randVec(rng, width*b, 0.1)
	x := randVec(rng, rows*width, 1)
	dy := randVec(rng, rows*width, 1)
	y := make([]float32, rows*width)
	db := make([]float32, width*b)
	flops := 2 * float64(rows) * float64(width) * float64(b)
	bm.Run("forward", func(bm *testing.B) {
		for bm.Loop() {
			RotateRows(x, rows, width, b, blocks, false, y)
		}
		bm.ReportMetric(flops*float64(bm.N)/bm.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	bm.Run("backward", func(bm *testing.B) {
		for bm.Loop() {
			RotateBackward(x, dy, rows, width, b, blocks, y, db)
		}
		bm.ReportMetric(2*flops*float64(bm.N)/bm.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	bm.Run("product", func(bm *testing.B) {
		w := randVec(rng, width*width, 0.1)
		for bm.Loop() {
			kernels.Gemm(false, true, rows, width, width, 1, x, width, w, width, 0, y, width)
		}
		bm.ReportMetric(2*float64(rows)*float64(width)*float64(width)*float64(bm.N)/bm.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}
