package tensor

import (
	"slices"
	"sync"
)

// A pool of float32 buffers for short-lived tensors: the gradients a
// backward pass hands from layer to layer, each dead as soon as the layer
// below has used it. Training repeats the same sizes every step, so
// buffers are kept by exact length; a step then allocates (and the runtime
// zeroes and faults in) none of them.

// poolDepth bounds the free buffers kept per length.
const poolDepth = 32

var pool = struct {
	sync.Mutex
	free map[int][][]float32
}{free: map[int][][]float32{}}

// Get returns a tensor of the given shape whose contents are unspecified
// (a recycled buffer, or zeros): for results that are fully overwritten.
// Give it back with Put when it is no longer used.
func Get(shape ...int) *Tensor {
	n := mustNumel(shape)
	pool.Lock()
	var data []float32
	if free := pool.free[n]; len(free) > 0 {
		data = free[len(free)-1]
		pool.free[n] = free[:len(free)-1]
	}
	pool.Unlock()
	if data == nil {
		data = make([]float32, n)
	}
	return &Tensor{Shape: slices.Clone(shape), Data: data}
}

// Put returns tensors from Get (or any tensors the caller owns outright)
// to the pool. The caller must not use them, or views of them, afterwards;
// their Data is set to nil so that a stray use fails loudly. nil tensors
// are ignored.
func Put(ts ...*Tensor) {
	pool.Lock()
	for _, t := range ts {
		if t == nil || len(t.Data) == 0 {
			continue
		}
		n := len(t.Data)
		if len(pool.free[n]) < poolDepth {
			pool.free[n] = append(pool.free[n], t.Data)
		}
		t.Data = nil
	}
	pool.Unlock()
}
