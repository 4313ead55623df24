package runlock

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeLock writes a lock file as another process would, its heartbeat
// age old.
func writeLock(t *testing.T, dir string, h Holder, age time.Duration) {
	t.Helper()
	b, _ := json.Marshal(h)
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	then := time.Now().Add(-age)
	if err := os.Chtimes(path, then, then); err != nil {
		t.Fatal(err)
	}
}

// deadPID returns the id of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestAcquireRelease(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Check(dir)
	if err != nil || h == nil || h.PID != os.Getpid() {
		t.Fatalf("Check of a held lock: %+v, %v", h, err)
	}
	_, err = Acquire(dir)
	var busy *BusyError
	if !errors.As(err, &busy) || !errors.Is(err, ErrBusy) || busy.Holder.PID != os.Getpid() || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Acquire: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !os.IsNotExist(err) {
		t.Fatalf("the lock file is left: %v", err)
	}
	if h, err := Check(dir); h != nil || err != nil {
		t.Fatalf("Check after Release: %+v, %v", h, err)
	}
}

// Who holds a lock decides whether it is live.
func TestLiveness(t *testing.T) {
	host, _ := os.Hostname()
	dead := deadPID(t)
	for _, c := range []struct {
		name   string
		holder Holder
		raw    string // file content instead of holder
		age    time.Duration
		live   bool
	}{
		{"this host, a process that exited", Holder{PID: dead, Host: host}, "", 0, false},
		{"this host, a running process", Holder{PID: os.Getppid(), Host: host}, "", 0, true},
		{"this host, a running process without heartbeat", Holder{PID: os.Getppid(), Host: host}, "", 2 * StaleAfter, false},
		{"another host, fresh heartbeat", Holder{PID: 12345, Host: "elsewhere.example"}, "", StaleAfter / 4, true},
		{"another host, stale heartbeat", Holder{PID: 12345, Host: "elsewhere.example"}, "", 2 * StaleAfter, false},
		{"unreadable, fresh", Holder{}, "{half", 0, true},
		{"unreadable, stale", Holder{}, "{half", 2 * StaleAfter, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeLock(t, dir, c.holder, c.age)
			if c.raw != "" {
				os.WriteFile(filepath.Join(dir, FileName), []byte(c.raw), 0o644)
				then := time.Now().Add(-c.age)
				os.Chtimes(filepath.Join(dir, FileName), then, then)
			}
			h, err := Check(dir)
			if err != nil || (h != nil) != c.live {
				t.Fatalf("Check: %+v, %v; want live %v", h, err, c.live)
			}
			l, err := Acquire(dir)
			if c.live {
				if !errors.Is(err, ErrBusy) {
					t.Fatalf("Acquire over a live lock: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Acquire over a stale lock: %v", err)
			}
			defer l.Release()
			if h, _ := Check(dir); h == nil || h.PID != os.Getpid() {
				t.Fatalf("after taking over: %+v", h)
			}
		})
	}
}

// The owner's heartbeat keeps the lock fresh; Release leaves a lock that
// another process took over in place.
func TestHeartbeat(t *testing.T) {
	saved := HeartbeatInterval
	HeartbeatInterval = 5 * time.Millisecond
	t.Cleanup(func() { HeartbeatInterval = saved })
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(path, old, old)
	deadline := time.Now().Add(5 * time.Second)
	for {
		fi, _ := os.Stat(path)
		if time.Since(fi.ModTime()) < time.Minute {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the heartbeat did not refresh the lock file")
		}
		time.Sleep(5 * time.Millisecond)
	}
	writeLock(t, dir, Holder{PID: 777, Host: "elsewhere.example"}, 0)
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if h, _ := Check(dir); h == nil || h.PID != 777 {
		t.Fatalf("Release removed another process's lock: %+v", h)
	}
}
