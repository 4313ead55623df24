//go:build !unix

package main

func resetPeakRSS() {}

// peakRSSMiB is 0 (unknown) where there is no getrusage.
func peakRSSMiB() float64 { return 0 }
