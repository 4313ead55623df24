package kernels

import (
	"runtime"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestPeakGFLOPS checks that the peak measurement exists where the CPU
// has the instructions (every amd64 CPU with AVX2 and FMA, every arm64 CPU)
// and returns a plausible figure: positive (under emulation it is tiny),
// and not more than 2 FMAs of 16 lanes per cycle at 10 GHz per thread.
func TestPeakGFLOPS(t *testing.T) {
	name, err := PeakKernel()
	switch {
	case err == nil:
		t.Logf("peak loop: %s", name)
	case runtime.GOARCH == "arm64", runtime.GOARCH == "amd64" && cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		t.Fatalf("no peak loop on a CPU that has one: %v", err)
	default:
		t.Skipf("this CPU or build has no FMA loop: %v", err)
	}
	if testing.Short() {
		t.Skip("takes 0.2 s per thread count")
	}
	for _, threads := range []int{1, 2} {
		g, err := PeakGFLOPS(threads)
		if err != nil {
			t.Fatal(err)
		}
		if !(g > 0 && g < float64(threads)*2*16*2*10) {
			t.Errorf("PeakGFLOPS(%d) = %g", threads, g)
		}
		t.Logf("PeakGFLOPS(%d) = %.1f", threads, g)
	}
	if _, err := PeakGFLOPS(0); err == nil {
		t.Error("PeakGFLOPS(0) succeeded")
	}
}

// The peak loops compute what they claim: c = c·y + z with y = 0.999 and
// z = 0.001 on amd64 (c moves towards 1), c += 0·0.001 on arm64 (c stays);
// one lane of the chains' sum comes back.
func TestPeakLoopValue(t *testing.T) {
	loop, err := peakLoopFor()
	if err != nil {
		t.Skipf("no peak loop: %v", err)
	}
	var seed [12][16]float32
	want := float32(0)
	for i := range seed {
		for l := range seed[i] {
			seed[i][l] = float32(i + 1)
		}
	}
	got := loop.run(0, &seed)
	for i := range seed {
		want += seed[i][0]
	}
	if got != want {
		t.Fatalf("0 iterations: %v, want the seeds' sum %v", got, want)
	}
	after := loop.run(1000, &seed)
	if runtime.GOARCH == "arm64" {
		if after != want {
			t.Errorf("1000 iterations of c += 0: %v, want %v", after, want)
		}
		return
	}
	// Each chain approaches 1: 12 chains sum to a little above 12.
	if !(after > 12 && after < want) {
		t.Errorf("1000 iterations: %v, want between 12 and %v", after, want)
	}
}
