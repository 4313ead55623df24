//go:build !unix

package runlock

// processAlive cannot tell here; the heartbeat's age decides.
func processAlive(pid int) (alive, known bool) { return false, false }
