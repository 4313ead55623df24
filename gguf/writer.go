package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"

	"github.com/orthotune/orthotune/kernels"
)

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name string
	// Dims in ggml order: Dims[0] is the contiguous dimension (a row's
	// length); a Hugging Face [out, in] matrix is [in, out] here.
	Dims []uint64
	Type TensorType
	// Offset of the data from the start of the data section, a multiple
	// of the alignment.
	Offset uint64
}

// Elements is the product of the dimensions.
func (ti TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range ti.Dims {
		n *= d
	}
	return n
}

// Writer writes a GGUF file in two phases: declare (AddKV, AddTensor), then
// WriteHeader and WriteTensor for each declared tensor in order, then Close.
// It buffers its output; nothing reaches the underlying writer before
// WriteHeader. A Writer is not safe for concurrent use.
type Writer struct {
	out       *bufio.Writer
	kvs       []KV
	keys      map[string]bool
	tensors   []TensorInfo
	names     map[string]bool
	alignment uint64
	header    bool // WriteHeader done
	next      int  // next tensor to write
	written   uint64
	buf       []byte
	err       error // first write error, sticky
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{out: bufio.NewWriterSize(w, 1<<20), keys: map[string]bool{}, names: map[string]bool{}, alignment: DefaultAlignment}
}

// AddKV declares a metadata pair, written in the order declared. Keys must
// be unique and non-empty; value must be one of the supported Go types.
// "general.alignment" must be a uint32 power of two and sets the alignment.
func (w *Writer) AddKV(key string, value any) error {
	if w.header {
		return fmt.Errorf("gguf: metadata %q added after the header was written", key)
	}
	if key == "" {
		return errors.New("gguf: empty metadata key")
	}
	if w.keys[key] {
		return fmt.Errorf("gguf: metadata key %q added twice", key)
	}
	if _, _, err := typeOf(value); err != nil {
		return fmt.Errorf("gguf: metadata %q: %w", key, err)
	}
	if key == KeyAlignment {
		a, ok := value.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("gguf: metadata %q must be a uint32 power of two, got %T %v", key, value, value)
		}
		w.alignment = uint64(a)
	}
	w.keys[key] = true
	w.kvs = append(w.kvs, KV{key, value})
	return nil
}

// AddTensor declares a tensor of the given type and dimensions (ggml order,
// 1 to MaxDims of them, each positive; the first a multiple of the type's
// BlockSize). Names must be unique.
func (w *Writer) AddTensor(name string, typ TensorType, dims ...int) error {
	if w.header {
		return fmt.Errorf("gguf: tensor %q added after the header was written", name)
	}
	if name == "" {
		return errors.New("gguf: empty tensor name")
	}
	if w.names[name] {
		return fmt.Errorf("gguf: tensor %q added twice", name)
	}
	if !typ.known() {
		return fmt.Errorf("gguf: tensor %q: type %v is not supported", name, typ)
	}
	if len(dims) == 0 || len(dims) > MaxDims {
		return fmt.Errorf("gguf: tensor %q has %d dimensions, want 1 to %d", name, len(dims), MaxDims)
	}
	ti := TensorInfo{Name: name, Type: typ}
	for _, d := range dims {
		if d <= 0 {
			return fmt.Errorf("gguf: tensor %q has dimensions %v; each must be positive", name, dims)
		}
		ti.Dims = append(ti.Dims, uint64(d))
	}
	if dims[0]%typ.BlockSize() != 0 {
		return fmt.Errorf("gguf: tensor %q: first dimension %d is not a multiple of %v's block size %d", name, dims[0], typ, typ.BlockSize())
	}
	w.names[name] = true
	w.tensors = append(w.tensors, ti)
	return nil
}

// Tensors returns the declared tensors with their offsets (set once
// WriteHeader has run).
func (w *Writer) Tensors() []TensorInfo { return append([]TensorInfo(nil), w.tensors...) }

func (w *Writer) pad(n uint64) uint64 { return (n + w.alignment - 1) / w.alignment * w.alignment }

// WriteHeader computes the tensors' offsets and writes the header, the
// metadata, the tensor infos and the padding before the data.
func (w *Writer) WriteHeader() error {
	if w.header {
		return errors.New("gguf: header written twice")
	}
	w.header = true
	var off uint64
	for i := range w.tensors {
		ti := &w.tensors[i]
		ti.Offset = off
		size, err := ti.Type.Bytes(int(ti.Elements()))
		if err != nil {
			return fmt.Errorf("gguf: tensor %q: %w", ti.Name, err)
		}
		off = w.pad(off + uint64(size))
	}
	b := w.buf[:0]
	b = append(b, Magic...)
	b = binary.LittleEndian.AppendUint32(b, Version)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(w.tensors)))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(w.kvs)))
	for _, kv := range w.kvs {
		b = appendString(b, kv.Key)
		t, elem, _ := typeOf(kv.Value)
		b = binary.LittleEndian.AppendUint32(b, uint32(t))
		if t == TypeArray {
			b = binary.LittleEndian.AppendUint32(b, uint32(elem))
		}
		b = appendValue(b, kv.Value)
		if err := w.flush(b); err != nil {
			return err
		}
		b = b[:0]
	}
	for _, ti := range w.tensors {
		b = appendString(b, ti.Name)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ti.Dims)))
		for _, d := range ti.Dims {
			b = binary.LittleEndian.AppendUint64(b, d)
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(ti.Type))
		b = binary.LittleEndian.AppendUint64(b, ti.Offset)
	}
	if err := w.flush(b); err != nil {
		return err
	}
	w.buf = b[:0]
	return w.padTo(w.pad(w.written))
}

// flush writes b and counts it.
func (w *Writer) flush(b []byte) error {
	if w.err != nil {
		return w.err
	}
	n, err := w.out.Write(b)
	w.written += uint64(n)
	if err != nil {
		w.err = fmt.Errorf("gguf: writing: %w", err)
	}
	return w.err
}

func (w *Writer) padTo(pos uint64) error {
	var zeros [64]byte
	for w.written < pos {
		n := min(pos-w.written, uint64(len(zeros)))
		if err := w.flush(zeros[:n]); err != nil {
			return err
		}
	}
	return nil
}

// WriteTensor writes the next declared tensor's data, converted from
// float32 to its type; len(data) must equal its element count.
func (w *Writer) WriteTensor(data []float32) error {
	if !w.header {
		return errors.New("gguf: tensor data written before the header")
	}
	if w.next >= len(w.tensors) {
		return fmt.Errorf("gguf: more tensor data than the %d tensors declared", len(w.tensors))
	}
	ti := w.tensors[w.next]
	if uint64(len(data)) != ti.Elements() {
		return fmt.Errorf("gguf: tensor %q has %d elements (%v), got %d values", ti.Name, ti.Elements(), ti.Dims, len(data))
	}
	// Encode a slice of values at a time (bounded memory), each slice split
	// among the cores by whole blocks, then write it.
	const chunk = 1 << 22 // values, a multiple of every block size
	for i := 0; i < len(data); i += chunk {
		part := data[i:min(i+chunk, len(data))]
		size, err := ti.Type.Bytes(len(part))
		if err != nil {
			return fmt.Errorf("gguf: tensor %q: %w", ti.Name, err)
		}
		if int64(cap(w.buf)) < size {
			w.buf = make([]byte, size)
		}
		b := w.buf[:size]
		bs := ti.Type.BlockSize()
		perBlock := size / int64(len(part)/bs)
		kernels.ParallelFor(len(part)/bs, 1<<12, func(lo, hi int) {
			// Encode appends within the capacity of this worker's window.
			dst := b[int64(lo)*perBlock : int64(lo)*perBlock : int64(hi)*perBlock]
			Encode(dst, ti.Type, part[lo*bs:hi*bs])
		})
		if err := w.flush(b); err != nil {
			return err
		}
	}
	w.next++
	return w.padTo(w.pad(w.written))
}

// Close checks that every declared tensor was written and flushes the
// buffered output. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if !w.header {
		return errors.New("gguf: closed before the header was written")
	}
	if w.next != len(w.tensors) {
		return fmt.Errorf("gguf: %d of %d tensors written (next: %q)", w.next, len(w.tensors), w.tensors[w.next].Name)
	}
	if err := w.out.Flush(); err != nil {
		w.err = fmt.Errorf("gguf: writing: %w", err)
		return w.err
	}
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendValue appends the encoding of v (whose type tags are written by the
// caller); an array is its element type's tag's follower: count, elements.
func appendValue(b []byte, v any) []byte {
	le := binary.LittleEndian
	switch v := v.(type) {
	case uint8:
		return append(b, v)
	case int8:
		return append(b, byte(v))
	case uint16:
		return le.AppendUint16(b, v)
	case int16:
		return le.AppendUint16(b, uint16(v))
	case uint32:
		return le.AppendUint32(b, v)
	case int32:
		return le.AppendUint32(b, uint32(v))
	case float32:
		return le.AppendUint32(b, math.Float32bits(v))
	case bool:
		return appendBool(b, v)
	case string:
		return appendString(b, v)
	case uint64:
		return le.AppendUint64(b, v)
	case int64:
		return le.AppendUint64(b, uint64(v))
	case float64:
		return le.AppendUint64(b, math.Float64bits(v))
	}
	b = le.AppendUint64(b, uint64(reflect.ValueOf(v).Len()))
	switch v := v.(type) {
	case []uint8:
		b = append(b, v...)
	case []int8:
		b = appendEach(b, v, func(b []byte, x int8) []byte { return append(b, byte(x)) })
	case []uint16:
		b = appendEach(b, v, le.AppendUint16)
	case []int16:
		b = appendEach(b, v, func(b []byte, x int16) []byte { return le.AppendUint16(b, uint16(x)) })
	case []uint32:
		b = appendEach(b, v, le.AppendUint32)
	case []int32:
		b = appendEach(b, v, func(b []byte, x int32) []byte { return le.AppendUint32(b, uint32(x)) })
	case []float32:
		b = appendEach(b, v, func(b []byte, x float32) []byte { return le.AppendUint32(b, math.Float32bits(x)) })
	case []bool:
		b = appendEach(b, v, appendBool)
	case []string:
		b = appendEach(b, v, appendString)
	case []uint64:
		b = appendEach(b, v, le.AppendUint64)
	case []int64:
		b = appendEach(b, v, func(b []byte, x int64) []byte { return le.AppendUint64(b, uint64(x)) })
	case []float64:
		b = appendEach(b, v, func(b []byte, x float64) []byte { return le.AppendUint64(b, math.Float64bits(x)) })
	}
	return b
}

// appendEach appends every element of xs with appendOne.
func appendEach[T any](b []byte, xs []T, appendOne func([]byte, T) []byte) []byte {
	for _, x := range xs {
		b = appendOne(b, x)
	}
	return b
}
