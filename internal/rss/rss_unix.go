//go:build unix

package rss

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ResetPeak restarts the kernel's resident-set high-water mark (Linux:
// /proc/self/clear_refs), so the peak measures training, not loading.
func ResetPeak() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// PeakMiB is the resident-set high-water mark: VmHWM from
// /proc/self/status where there is one, else getrusage's maxrss.
func PeakMiB() float64 {
	if f, err := os.Open(filepath.Join("/proc", "self", "status")); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
				fields := strings.Fields(rest)
				if kb, err := strconv.ParseFloat(fields[0], 64); err == nil {
					return kb / 1024
				}
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		return float64(ru.Maxrss) / 1024
	}
	return math.NaN()
}
