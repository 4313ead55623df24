package kernels

import (
	"errors"
	"runtime"
	"slices"
	"sync"
	"time"
)

// peakLoop runs n iterations of a fixed number of independent vector FMA
// chains held in registers (c = c·y + z) and returns one lane of their sum,
// so that the work cannot be discarded. It reads its starting values from
// seed; flops is the FLOPs one iteration performs (chains × lanes × 2).
type peakLoop struct {
	run   func(n int, seed *[12][16]float32) float32
	flops int
	name  string // the instruction set, as PeakKernel reports it
}

// PeakKernel names the loop PeakGFLOPS measures with ("avx512", "avx2",
// "neon"), or says why there is none on this CPU or build.
func PeakKernel() (string, error) {
	l, err := peakLoopFor()
	if err != nil {
		return "", err
	}
	return l.name, nil
}

// PeakGFLOPS measures the machine's float32 fused multiply-add throughput,
// in GFLOP/s, with threads goroutines at once: the ceiling that GEMM
// efficiency and a training step's MFU are quoted against (BENCHMARKS.md
// states it this way). Each goroutine is locked to its OS thread and, for
// about 200 ms, runs a loop of 12 independent FMA chains in the widest
// vectors the CPU has (Go assembly: AVX-512, AVX2 with FMA, or NEON):
// enough chains to cover the FMA latency on two pipes, all in registers.
// Each FMA counts 2 flops per lane.
//
// The 200 ms are timed in 20 slices and each goroutine reports its median
// slice: a burst of other work on the machine, or a moment of higher
// clock, moves the figure less than it would a single average. It is what
// the cores sustain at the vector clock they run at, which heavy load on
// the machine still lowers. It returns an error if threads < 1 or the CPU
// has none of those instruction sets.
func PeakGFLOPS(threads int) (float64, error) {
	if threads < 1 {
		return 0, errors.New("kernels.PeakGFLOPS: threads must be at least 1")
	}
	loop, err := peakLoopFor()
	if err != nil {
		return 0, err
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
			loop.run(chunk, &seed) // let the core settle at its vector clock
			var sliceRates [nslice]float64
			for i := range nslice {
				iters := 0
				t0 := time.Now()
				for time.Since(t0) < slice {
					loop.run(chunk, &seed)
					iters += chunk
				}
				sliceRates[i] = float64(iters) * float64(loop.flops) / time.Since(t0).Seconds()
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
