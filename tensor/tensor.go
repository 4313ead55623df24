package tensor

import (
	"fmt"
	"math"
	"slices"

	"github.com/orthotune/orthotune/kernels"
)

// Tensor is a contiguous row-major float32 array with a shape. The zero
// Tensor is an empty scalar-less value; use New or FromSlice to make one.
type Tensor struct {
	Shape []int
	Data  []float32
}

// New returns a zero-filled tensor of the given shape. It panics on a
// negative dimension.
func New(shape ...int) *Tensor {
	n := mustNumel(shape)
	return &Tensor{Shape: slices.Clone(shape), Data: make([]float32, n)}
}

// Reuse returns t when it already has the given shape, else a tensor of
// that shape from Get; either way its contents are unspecified, so it is
// for results the caller overwrites completely. Layers use it to keep
// their outputs from one training step to the next instead of allocating
// them anew, and give them back with Put when released.
func Reuse(t *Tensor, shape ...int) *Tensor {
	if t != nil && slices.Equal(t.Shape, shape) {
		return t
	}
	return Get(shape...)
}

// FromSlice wraps data (not copied) in a tensor of the given shape. It
// returns an error when the shape's element count differs from len(data).
func FromSlice(data []float32, shape ...int) (*Tensor, error) {
	n, err := Numel(shape)
	if err != nil {
		return nil, err
	}
	if n != len(data) {
		return nil, fmt.Errorf("tensor: shape %v holds %d elements, data has %d", shape, n, len(data))
	}
	return &Tensor{Shape: slices.Clone(shape), Data: data}, nil
}

// Numel returns the number of elements a shape holds, or an error for a
// negative dimension or a product that overflows int.
func Numel(shape []int) (int, error) {
	// The errors format a copy of shape, so that shape does not escape and
	// the variadic shapes of Get, Reuse and New can stay on their callers'
	// stacks.
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("tensor: negative dimension in shape %v", slices.Clone(shape))
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("tensor: shape %v overflows", slices.Clone(shape))
		}
		n *= d
	}
	return n, nil
}

func mustNumel(shape []int) int {
	n, err := Numel(shape)
	if err != nil {
		panic(err)
	}
	return n
}

// Len returns the number of elements.
func (t *Tensor) Len() int { return len(t.Data) }

// Dim returns the size of axis i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	return t.Shape[i]
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data)}
}

// Reshape returns a tensor sharing t's data with a new shape of equal size.
// One dimension may be -1 and is inferred.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	shape = slices.Clone(shape)
	infer := -1
	known := 1
	for i, d := range shape {
		if d == -1 {
			if infer >= 0 {
				panic("tensor: Reshape with more than one -1")
			}
			infer = i
			continue
		}
		known *= d
	}
	if infer >= 0 {
		if known == 0 || len(t.Data)%known != 0 {
			panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.Shape, shape))
		}
		shape[infer] = len(t.Data) / known
	}
	if mustNumel(shape) != len(t.Data) {
		panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.Shape, shape))
	}
	return &Tensor{Shape: shape, Data: t.Data}
}

// SameShape reports whether t and u have identical shapes.
func (t *Tensor) SameShape(u *Tensor) bool { return slices.Equal(t.Shape, u.Shape) }

// Zero sets every element to 0.
func (t *Tensor) Zero() { clear(t.Data) }

// String describes the tensor's shape (not its data).
func (t *Tensor) String() string { return fmt.Sprintf("Tensor%v", t.Shape) }

// MaxAbsDiff returns max |a[i] − b[i]| computed in float64, or +Inf when
// any difference is NaN (so that every "diff > tolerance" check fails on
// NaN). Equal infinities count as equal. It panics when the lengths differ.
func MaxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("tensor: MaxAbsDiff of lengths %d and %d", len(a), len(b)))
	}
	var m float64
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = max(m, d)
	}
	return m
}

// AddInPlace adds u into t elementwise and returns t. It panics when the
// element counts differ.
func (t *Tensor) AddInPlace(u *Tensor) *Tensor {
	if len(t.Data) != len(u.Data) {
		panic(fmt.Sprintf("tensor: AddInPlace of %v and %v", t.Shape, u.Shape))
	}
	if len(t.Data) < 1<<16 {
		kernels.Add(t.Data, u.Data)
		return t
	}
	// Residual connections add whole activations: spread them over the
	// cores like the layers around them.
	kernels.ParallelFor(len(t.Data), 1<<14, func(lo, hi int) { kernels.Add(t.Data[lo:hi], u.Data[lo:hi]) })
	return t
}

// Argmax returns the index of the largest of x, the lowest on ties, as
// greedy decoding picks a token from logits; NaN never wins, and it
// returns −1 when no value is above −Inf.
func Argmax(x []float32) int {
	best := -1
	for i, v := range x {
		if v > float32(math.Inf(-1)) && (best < 0 || v > x[best]) {
			best = i
		}
	}
	return best
}
