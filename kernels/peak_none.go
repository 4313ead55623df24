//go:build !(goexperiment.simd && amd64)

package kernels

import "errors"

// PeakGFLOPS measures the machine's float32 fused multiply-add throughput
// in GFLOP/s on threads goroutines. The measurement needs vector
// instructions that only a GOEXPERIMENT=simd build on amd64 has; this build
// returns an error.
func PeakGFLOPS(threads int) (float64, error) {
	return 0, errors.New("kernels.PeakGFLOPS: not built in: build with GOEXPERIMENT=simd on amd64")
}
