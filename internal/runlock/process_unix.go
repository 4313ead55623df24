//go:build unix

package runlock

import (
	"errors"
	"syscall"
)

// processAlive reports whether a process with this id exists on this
// host (signal 0 probes without signalling).
func processAlive(pid int) (alive, known bool) {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM), true
}
