package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

var threads atomic.Int32

func init() { threads.Store(int32(runtime.GOMAXPROCS(0))) }

// Threads reports how many goroutines parallel kernels use.
func Threads() int { return int(threads.Load()) }

// SetThreads sets how many goroutines parallel kernels use; n < 1 means
// runtime.GOMAXPROCS(0). It returns the previous value.
func SetThreads(n int) int {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	return int(threads.Swap(int32(n)))
}

// ParallelFor splits [0, n) into at most Threads() contiguous chunks of at
// least minChunk items (the last may be shorter) and calls fn(lo, hi) on
// each, concurrently. It returns when every call has returned. The first
// chunk runs on the caller's goroutine, so with one chunk there is no
// goroutine hand-off at all.
//
// The other chunks run on helper goroutines that park between calls and are
// reused, so steady-state calls do not allocate. Calls may be nested (fn may
// call ParallelFor) and made from several goroutines at once: when no helper
// is parked a new one is started, so ParallelFor never waits for a helper.
func ParallelFor(n, minChunk int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if minChunk < 1 {
		minChunk = 1
	}
	// With at most n/minChunk workers, every chunk but the last has at
	// least minChunk items.
	workers := min(Threads(), n/minChunk)
	if workers <= 1 {
		fn(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	parallelDepth.Add(1)
	defer parallelDepth.Add(-1)
	wg := wgPool.Get().(*sync.WaitGroup)
	for lo := chunk; lo < n; lo += chunk {
		wg.Add(1)
		t := task{fn: fn, lo: lo, hi: min(lo+chunk, n), wg: wg}
		select {
		case parked <- t:
		default:
			go helper(t)
		}
	}
	fn(0, chunk)
	wg.Wait()
	wgPool.Put(wg)
}

// parallelDepth counts the ParallelFor calls running on more than one
// goroutine. A backend with its own threads (a system BLAS) uses them only
// when it is zero, that is when nothing else of ours is computing.
var parallelDepth atomic.Int32

// task is one chunk of a ParallelFor call.
type task struct {
	fn     func(lo, hi int)
	lo, hi int
	wg     *sync.WaitGroup
}

// parked hands tasks to idle helpers. It is unbuffered, so a send succeeds
// only if a helper is waiting.
var parked = make(chan task)

var wgPool = sync.Pool{New: func() any { return new(sync.WaitGroup) }}

// helper runs t, then parks waiting for further tasks. Helpers never exit;
// their number is bounded by the most chunks ever in flight at once.
func helper(t task) {
	for {
		t.fn(t.lo, t.hi)
		t.wg.Done()
		t = <-parked
	}
}
