//go:build goexperiment.simd && amd64

package kernels

import (
	"errors"
	"runtime"
	"simd/archsimd"
	"slices"
	"sync"
	"time"
)

// PeakGFLOPS measures the machine's float32 fused multiply-add throughput,
// in GFLOP/s, with threads goroutines at once: the ceiling that GEMM
// efficiency is quoted against (BENCHMARKS.md states it this way). Each
// goroutine is locked to its OS thread and, for about 200 ms, runs a loop
// of 12 independent chains c = c·y + z in the widest vectors the CPU has
// (16 lanes with AVX-512, 8 with AVX2): enough chains to cover the FMA
// latency on two pipes, all in registers. Each FMA counts 2 flops per lane.
//
// The 200 ms are timed in 20 slices and each goroutine reports its median
// slice: a burst of other work on the machine, or a moment of higher
// clock, moves the figure less than it would a single average. It is what
// the cores sustain at the vector clock they run at, which heavy load on
// the machine still lowers. It returns an error if threads < 1 or the
// CPU has neither AVX-512 nor AVX2 with FMA.
func PeakGFLOPS(threads int) (float64, error) {
	if threads < 1 {
		return 0, errors.New("kernels.PeakGFLOPS: threads must be at least 1")
	}
	var loop func(n int, seed *[12][16]float32) float32
	lanes := 0
	switch {
	case archsimd.X86.AVX512():
		loop, lanes = peakLoop512, 16
	case archsimd.X86.AVX2() && archsimd.X86.FMA():
		loop, lanes = peakLoop256, 8
	default:
		return 0, errors.New("kernels.PeakGFLOPS: CPU has neither AVX-512 nor AVX2 with FMA")
	}
	const (
		nslice = 20
		slice  = 10 * time.Millisecond
		chunk  = 20_000 // iterations between looks at the clock, about 0.1 ms
	)
	rates := make([]float64, threads)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for t := range threads {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var seed [12][16]float32
			for i := range seed {
				for l := range seed[i] {
					seed[i][l] = float32(i*16+l) / 256
				}
			}
			ready.Done()
			<-start
			loop(chunk, &seed) // let the core settle at its vector clock
			var sliceRates [nslice]float64
			for i := range nslice {
				iters := 0
				t0 := time.Now()
				for time.Since(t0) < slice {
					loop(chunk, &seed)
					iters += chunk
				}
				rate := float64(iters) * 12 * float64(lanes) * 2 / time.Since(t0).Seconds()
				sliceRates[i] = rate
			}
			slices.Sort(sliceRates[:])
			rates[t] = sliceRates[len(sliceRates)/2]
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	total := 0.0
	for _, r := range rates {
		total += r
	}
	return total / 1e9, nil
}

// peakLoop512 runs n iterations of 12 independent 16-lane FMA chains and
// returns a lane of their sum, so that the work cannot be discarded.
// Written as c = c·y + z, each FMA's result lands in its own accumulator's
// register (see gemm_simd_amd64.go), so the loop holds nothing but FMAs.
//
//go:noinline
func peakLoop512(n int, seed *[12][16]float32) float32 {
	y := archsimd.BroadcastFloat32x16(0.999)
	z := archsimd.BroadcastFloat32x16(0.001) // c converges to z/(1-y) = 1
	c0 := archsimd.LoadFloat32x16(&seed[0])
	c1 := archsimd.LoadFloat32x16(&seed[1])
	c2 := archsimd.LoadFloat32x16(&seed[2])
	c3 := archsimd.LoadFloat32x16(&seed[3])
	c4 := archsimd.LoadFloat32x16(&seed[4])
	c5 := archsimd.LoadFloat32x16(&seed[5])
	c6 := archsimd.LoadFloat32x16(&seed[6])
	c7 := archsimd.LoadFloat32x16(&seed[7])
	c8 := archsimd.LoadFloat32x16(&seed[8])
	c9 := archsimd.LoadFloat32x16(&seed[9])
	c10 := archsimd.LoadFloat32x16(&seed[10])
	c11 := archsimd.LoadFloat32x16(&seed[11])
	for range n {
		c0 = c0.MulAdd(y, z)
		c1 = c1.MulAdd(y, z)
		c2 = c2.MulAdd(y, z)
		c3 = c3.MulAdd(y, z)
		c4 = c4.MulAdd(y, z)
		c5 = c5.MulAdd(y, z)
		c6 = c6.MulAdd(y, z)
		c7 = c7.MulAdd(y, z)
		c8 = c8.MulAdd(y, z)
		c9 = c9.MulAdd(y, z)
		c10 = c10.MulAdd(y, z)
		c11 = c11.MulAdd(y, z)
	}
	s := c0.Add(c1).Add(c2).Add(c3).Add(c4).Add(c5).Add(c6).Add(c7).Add(c8).Add(c9).Add(c10).Add(c11)
	var out [16]float32
	s.Store(&out)
	return out[0]
}

// peakLoop256 is peakLoop512 in 8-lane vectors, for AVX2.
//
//go:noinline
func peakLoop256(n int, seed *[12][16]float32) float32 {
	y := archsimd.BroadcastFloat32x8(0.999)
	z := archsimd.BroadcastFloat32x8(0.001)
	c0 := archsimd.LoadFloat32x8Slice(seed[0][:])
	c1 := archsimd.LoadFloat32x8Slice(seed[1][:])
	c2 := archsimd.LoadFloat32x8Slice(seed[2][:])
	c3 := archsimd.LoadFloat32x8Slice(seed[3][:])
	c4 := archsimd.LoadFloat32x8Slice(seed[4][:])
	c5 := archsimd.LoadFloat32x8Slice(seed[5][:])
	c6 := archsimd.LoadFloat32x8Slice(seed[6][:])
	c7 := archsimd.LoadFloat32x8Slice(seed[7][:])
	c8 := archsimd.LoadFloat32x8Slice(seed[8][:])
	c9 := archsimd.LoadFloat32x8Slice(seed[9][:])
	c10 := archsimd.LoadFloat32x8Slice(seed[10][:])
	c11 := archsimd.LoadFloat32x8Slice(seed[11][:])
	for range n {
		c0 = c0.MulAdd(y, z)
		c1 = c1.MulAdd(y, z)
		c2 = c2.MulAdd(y, z)
		c3 = c3.MulAdd(y, z)
		c4 = c4.MulAdd(y, z)
		c5 = c5.MulAdd(y, z)
		c6 = c6.MulAdd(y, z)
		c7 = c7.MulAdd(y, z)
		c8 = c8.MulAdd(y, z)
		c9 = c9.MulAdd(y, z)
		c10 = c10.MulAdd(y, z)
		c11 = c11.MulAdd(y, z)
	}
	s := c0.Add(c1).Add(c2).Add(c3).Add(c4).Add(c5).Add(c6).Add(c7).Add(c8).Add(c9).Add(c10).Add(c11)
	var out [8]float32
	s.StoreSlice(out[:])
	return out[0]
}
