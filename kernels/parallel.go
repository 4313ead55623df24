package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
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
// The other chunks run on helper goroutines that are reused, so
// steady-state calls do not allocate. An idle helper spins for a short
// while (helperSpin) before it parks: a training step hands out hundreds of
// chunks, and waking a parked goroutine's thread for each of them took a
// large share of the step (BENCHMARKS.md has the measurement). Calls may be
// nested (fn may call ParallelFor) and made from several goroutines at
// once: each chunk goes to an idle helper claimed for it alone, or to a new
// one when none is idle, so ParallelFor never waits for a helper.
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
	if workers <= 1 || concurrent.Load() > 0 {
		fn(0, n)
		return
	}
	runChunks(n, (n+workers-1)/workers, fn)
}

// runChunks calls fn on [0, chunk), [chunk, 2·chunk), … up to n: the first
// on the caller's goroutine, the others on helpers.
func runChunks(n, chunk int, fn func(lo, hi int)) {
	parallelDepth.Add(1)
	defer parallelDepth.Add(-1)
	wg := wgPool.Get().(*sync.WaitGroup)
	for lo := chunk; lo < n; lo += chunk {
		wg.Add(1)
		t := task{fn: fn, lo: lo, hi: min(lo+chunk, n), wg: wg}
		if h := claimIdle(); h != nil {
			h.mail <- t // buffered and empty: the claimed helper takes it
		} else {
			go runHelper(&helper{mail: make(chan task, 1)}, t)
		}
	}
	fn(0, chunk)
	wg.Wait()
	wgPool.Put(wg)
}

// Concurrently calls fn(0), …, fn(n−1) on n goroutines at once (fn(0) on
// the caller's) and returns when all have returned. While any such calls
// run, every kernel runs single-threaded on the goroutine that calls it:
// ParallelFor runs its loop in place and a system BLAS uses one thread.
// That suits work already split n ways, such as the replicas of a model in
// a data-parallel training step, where each goroutine keeps a core busy
// with no hand-offs between them (see train.Parallel, also on GOMAXPROCS).
// It also holds for kernels called concurrently by anything else in the
// process meanwhile. The calls other than fn(0) run on ParallelFor's
// helpers, whose stacks stay grown from one call to the next.
func Concurrently(n int, fn func(i int)) {
	if n <= 1 {
		if n == 1 {
			fn(0)
		}
		return
	}
	concurrent.Add(1)
	defer concurrent.Add(-1)
	runChunks(n, 1, func(i, _ int) { fn(i) })
}

// concurrent counts the Concurrently calls running.
var concurrent atomic.Int32

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

var wgPool = sync.Pool{New: func() any { return new(sync.WaitGroup) }}

// helperSpin is how long an idle helper polls its mailbox before parking.
const helperSpin = 50 * time.Microsecond

// A helper runs the chunks handed to it through its mailbox. While idle it
// is on the idle list; claimIdle takes it off before mailing it a chunk, so
// each idle helper receives at most one chunk and the mailbox (capacity 1)
// never blocks the sender.
type helper struct {
	mail chan task
}

var idle struct {
	sync.Mutex
	list []*helper
}

// claimIdle takes an idle helper off the list, or returns nil.
func claimIdle() *helper {
	idle.Lock()
	defer idle.Unlock()
	n := len(idle.list)
	if n == 0 {
		return nil
	}
	h := idle.list[n-1]
	idle.list = idle.list[:n-1]
	return h
}

// runHelper runs t, then waits for further chunks: spinning on its mailbox
// for helperSpin, then blocked on it. Helpers never exit; their number is
// bounded by the most chunks ever in flight at once.
func runHelper(h *helper, t task) {
	for {
		t.fn(t.lo, t.hi)
		t.wg.Done()
		idle.Lock()
		idle.list = append(idle.list, h)
		idle.Unlock()
		t = h.wait()
	}
}

// wait returns the next chunk mailed to h, polling before it blocks.
func (h *helper) wait() task {
	start := time.Now()
	for i := 1; ; i++ {
		select {
		case t := <-h.mail:
			return t
		default:
		}
		if i%64 == 0 {
			if time.Since(start) > helperSpin {
				return <-h.mail
			}
			runtime.Gosched() // let other goroutines have this thread
		}
	}
}
