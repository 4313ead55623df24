package tensor

import "testing"

func TestPoolRecyclesByLength(t *testing.T) {
	a := Get(3, 4)
	if len(a.Data) != 12 || a.Dim(0) != 3 || a.Dim(1) != 4 {
		t.Fatalf("Get(3, 4) = shape %v, %d values", a.Shape, len(a.Data))
	}
	a.Data[0] = 7
	buf := &a.Data[0]
	Put(a, nil)
	if a.Data != nil {
		t.Error("Put left the tensor's Data in place")
	}
	b := Get(2, 6) // same length, another shape: the same buffer
	if &b.Data[0] != buf || b.Dim(0) != 2 {
		t.Errorf("Get after Put did not reuse the buffer (shape %v)", b.Shape)
	}
	c := Get(5) // another length: fresh zeros
	if c.Data[0] != 0 || len(c.Data) != 5 {
		t.Errorf("Get(5) = %v", c.Data)
	}
	Put(b, c)
}

func TestPoolIsBounded(t *testing.T) {
	var ts []*Tensor
	for range poolDepth + 10 {
		ts = append(ts, New(17))
	}
	Put(ts...)
	pool.Lock()
	n := len(pool.free[17])
	pool.Unlock()
	if n > poolDepth {
		t.Errorf("%d free buffers of one length kept, want at most %d", n, poolDepth)
	}
}
