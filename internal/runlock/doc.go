// Package runlock marks a directory as being written by one running
// process, so that another process — on this machine or, through a shared
// file system, on another — neither writes into it at the same time nor
// takes a run in flight for an abandoned one.
//
// A lock is a small file (FileName) in the directory holding the owner's
// process id, host name and start time; its owner refreshes the file's
// modification time every HeartbeatInterval while it holds it. A lock is
// live when its owner is known to run: on the same host, while that
// process exists and the heartbeat is fresh; on another host, while the
// heartbeat is younger than StaleAfter. A stale lock (a process killed
// with SIGKILL, a machine that went down) is taken over by the next
// Acquire.
//
// Why not flock(2): advisory locks are not honoured by every network file
// system a shared study directory lives on (NFS without lockd, many FUSE
// mounts), they vanish silently when a node dies, and they cannot say who
// holds them; a heartbeat file works wherever files and modification
// times do, and its content names the holder in the error a user reads.
// Taking over a stale lock is not atomic against a second process taking
// it over in the same instant; the window is a few system calls after a
// lock has been stale for StaleAfter.
package runlock
