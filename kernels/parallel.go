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
	if workers > 1 && running.Load() > 0 {
		lent := borrowCores(workers - 1)
		defer returnCores(lent)
		workers = 1 + lent
	}
	if workers <= 1 {
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
// the caller's) and returns when all have returned. That suits work
// already split n ways, such as the replicas of a model in a data-parallel
// training step, where each goroutine keeps a core busy with no hand-offs
// between them (see train.Parallel, also on GOMAXPROCS). While such calls
// run, each of their goroutines counts as one of the Threads() cores, and
// a kernel they call runs on as many as are left over: single-threaded on
// the calling goroutine while all n run (ParallelFor runs its loop in
// place, a system BLAS uses one thread), and, once some have returned,
// helped by the cores they left, so the last goroutines of an uneven
// split do not run alone while the others' cores wait (a step's replicas
// end 0–20% apart on a shared machine). The kernels' results do not
// depend on how many goroutines compute them, so the help changes no
// result. The rule also holds for kernels called concurrently by anything
// else in the process meanwhile. The calls other than fn(0) run on
// ParallelFor's helpers, whose stacks stay grown from one call to the
// next.
func Concurrently(n int, fn func(i int)) {
	if n <= 1 {
		if n == 1 {
			fn(0)
		}
		return
	}
	running.Add(int32(n))
	runChunks(n, 1, func(i, _ int) {
		defer running.Add(-1)
		fn(i)
	})
}

// running counts the goroutines of Concurrently calls that have not
// returned, and lent the cores lent to kernels called meanwhile
// (borrowCores).
var running, lent atomic.Int32

// borrowCores lends a kernel called while Concurrently runs up to want
// of the Threads() cores that its goroutines and other kernels are not
// using, and returns how many it lent; give them back with returnCores.
func borrowCores(want int) int {
	for {
		l := lent.Load()
		n := min(want, Threads()-int(running.Load())-int(l))
		if n <= 0 {
			return 0
		}
		if lent.CompareAndSwap(l, l+int32(n)) {
			return n
		}
	}
}

// returnCores gives back n cores borrowCores lent.
func returnCores(n int) {
	if n > 0 {
		lent.Add(-int32(n))
	}
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
