//go:build !unix

package rss

// ResetPeak does nothing where the kernel keeps no resettable mark.
func ResetPeak() {}

// PeakMiB is 0 (unknown) where there is no getrusage.
func PeakMiB() float64 { return 0 }
