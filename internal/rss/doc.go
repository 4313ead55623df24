// Package rss reads the process's resident-set high-water mark, for
// memory figures in benchmarks: ResetPeak restarts it (Linux), PeakMiB
// reads it (VmHWM, else getrusage's maxrss; 0 where neither exists).
package rss
