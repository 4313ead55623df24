package runlock

import (
	"encoding/json"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// FileName is the lock file's name inside the locked directory.
const FileName = ".orthotune.lock"

// Timing of the heartbeat. A lock of another host whose file was not
// touched for StaleAfter is stale.
var (
	HeartbeatInterval = 15 * time.Second
	StaleAfter        = 2 * time.Minute
)

// Holder is who holds a lock, as its file records it.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
	// Beat is the file's modification time: the owner's last heartbeat.
	Beat time.Time `json:"-"`
}

func (h Holder) String() string {
	return fmt.Sprintf("process %d on %s, started %s, alive %s ago", h.PID, h.Host,
		h.Started.Format(time.RFC3339), time.Since(h.Beat).Round(time.Second))
}

// ErrBusy is what a BusyError matches with errors.Is.
var ErrBusy = errors.New("directory is in use by another run")

// BusyError says that a live lock is held on Dir by Holder.
type BusyError struct {
	Dir    string
	Holder Holder
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%s is being written by another run (%s); wait for it to finish or choose another directory", e.Dir, e.Holder)
}

// Is makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// Lock is a lock held by this process. Release it when done.
type Lock struct {
	path string
	mine []byte
	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
}

// Acquire locks dir, which must exist, for this process, taking over a
// stale lock; it returns a *BusyError when a live lock is held.
func Acquire(dir string) (*Lock, error) {
	path := filepath.Join(dir, FileName)
	host, _ := os.Hostname()
	mine, err := json.Marshal(Holder{PID: os.Getpid(), Host: host, Started: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, werr := f.Write(append(mine, '\n'))
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				os.Remove(path)
				return nil, fmt.Errorf("runlock: %w", werr)
			}
			l := &Lock{path: path, mine: append(mine, '\n'), stop: make(chan struct{})}
			l.done.Add(1)
			go l.heartbeat()
			return l, nil
		}
		if !errors.Is(err, iofs.ErrExist) || attempt > 0 {
			if errors.Is(err, iofs.ErrExist) {
				if h, _ := Check(dir); h != nil {
					return nil, &BusyError{Dir: dir, Holder: *h}
				}
			}
			return nil, fmt.Errorf("runlock: %w", err)
		}
		h, err := Check(dir)
		if err != nil {
			return nil, err
		}
		if h != nil {
			return nil, &BusyError{Dir: dir, Holder: *h}
		}
		// Stale (or gone since): take it over.
		if err := os.Remove(path); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return nil, fmt.Errorf("runlock: removing a stale lock: %w", err)
		}
	}
}

// heartbeat refreshes the lock file's modification time until Release.
func (l *Lock) heartbeat() {
	defer l.done.Done()
	t := time.NewTicker(HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			now := time.Now()
			_ = os.Chtimes(l.path, now, now) // a directory removed under us: nothing to refresh
		}
	}
}

// Release stops the heartbeat and removes the lock file if it is still
// this process's. Calling it again does nothing.
func (l *Lock) Release() error {
	var err error
	l.once.Do(func() {
		close(l.stop)
		l.done.Wait()
		b, rerr := os.ReadFile(l.path)
		switch {
		case errors.Is(rerr, iofs.ErrNotExist): // removed with its directory
		case rerr != nil:
			err = rerr
		case string(b) == string(l.mine):
			if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, iofs.ErrNotExist) {
				err = rerr
			}
		}
	})
	return err
}

// Check returns the holder of a live lock on dir, or nil when dir is not
// locked or its lock is stale. An unreadable or half-written lock file
// counts as live until it is StaleAfter old.
func Check(dir string) (*Holder, error) {
	path := filepath.Join(dir, FileName)
	fi, err := os.Stat(path)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("runlock: %w", err)
	}
	var h Holder
	b, err := os.ReadFile(path)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	h.Beat = fi.ModTime()
	fresh := time.Since(h.Beat) < StaleAfter
	if err != nil || json.Unmarshal(b, &h) != nil || h.PID <= 0 {
		if fresh {
			h.Host = "an unknown host"
			return &h, nil
		}
		return nil, nil
	}
	if host, _ := os.Hostname(); h.Host == host && host != "" {
		if h.PID == os.Getpid() {
			return &h, nil
		}
		if alive, known := processAlive(h.PID); known && !alive {
			return nil, nil
		}
	}
	if fresh {
		return &h, nil
	}
	return nil, nil
}
