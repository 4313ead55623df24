package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// File is a GGUF file's metadata and tensor infos, with access to the
// tensor data through the io.ReaderAt it was read from.
type File struct {
	Version   uint32
	KV        []KV
	Tensors   []TensorInfo
	Alignment uint64
	// DataOffset is where the data section starts in the file.
	DataOffset int64

	r      io.ReaderAt
	size   int64
	closer io.Closer
	kv     map[string]int
	tensor map[string]int
}

// maxElements bounds a tensor's element count (2^40), far above any model's
// and far below overflow.
const maxElements = 1 << 40

// ErrFormat is wrapped by every error about malformed input.
var ErrFormat = errors.New("not a valid GGUF file")

// Open reads path's metadata and tensor infos; the file stays open for
// tensor data until Close.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	f, err := Read(fh, st.Size())
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.closer = fh
	return f, nil
}

// Close closes the file Open opened (nothing for Read).
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	return f.closer.Close()
}

// Read parses the GGUF header, metadata and tensor infos of the size bytes
// of r. It checks that every tensor has a supported type, valid dimensions,
// an aligned offset and data inside r, and that names and keys are unique.
func Read(r io.ReaderAt, size int64) (*File, error) {
	d := &decoder{r: r, size: size}
	magic := d.bytes(4)
	if d.err == nil && string(magic) != Magic {
		return nil, fmt.Errorf("%w: magic %q, want %q", ErrFormat, magic, Magic)
	}
	f := &File{r: r, size: size, kv: map[string]int{}, tensor: map[string]int{}, Alignment: DefaultAlignment}
	f.Version = d.u32()
	if d.err == nil && f.Version != Version {
		return nil, fmt.Errorf("%w: version %d, this reader reads version %d", ErrFormat, f.Version, Version)
	}
	nt, nkv := d.u64(), d.u64()
	if d.err != nil {
		return nil, d.err
	}
	// Every pair takes at least 8+4+1 bytes and every tensor info 8+4+8+4+8.
	if nkv > uint64(size)/13 || nt > uint64(size)/32 {
		return nil, fmt.Errorf("%w: %d metadata pairs and %d tensors cannot fit in %d bytes", ErrFormat, nkv, nt, size)
	}
	for i := uint64(0); i < nkv; i++ {
		key := d.str()
		t := ValueType(d.u32())
		v := d.value(t, true)
		if d.err != nil {
			return nil, fmt.Errorf("metadata pair %d (%q): %w", i, key, d.err)
		}
		if _, dup := f.kv[key]; dup {
			return nil, fmt.Errorf("%w: metadata key %q appears twice", ErrFormat, key)
		}
		if key == KeyAlignment {
			a, ok := v.(uint32)
			if !ok || a == 0 || a&(a-1) != 0 {
				return nil, fmt.Errorf("%w: %s is %T %v, want a uint32 power of two", ErrFormat, key, v, v)
			}
			f.Alignment = uint64(a)
		}
		f.kv[key] = len(f.KV)
		f.KV = append(f.KV, KV{key, v})
	}
	for i := uint64(0); i < nt; i++ {
		var ti TensorInfo
		ti.Name = d.str()
		nd := d.u32()
		if d.err == nil && (nd == 0 || nd > MaxDims) {
			return nil, fmt.Errorf("%w: tensor %q has %d dimensions, want 1 to %d", ErrFormat, ti.Name, nd, MaxDims)
		}
		for j := uint32(0); j < nd && d.err == nil; j++ {
			ti.Dims = append(ti.Dims, d.u64())
		}
		ti.Type = TensorType(d.u32())
		ti.Offset = d.u64()
		if d.err != nil {
			return nil, fmt.Errorf("tensor info %d: %w", i, d.err)
		}
		if _, dup := f.tensor[ti.Name]; dup {
			return nil, fmt.Errorf("%w: tensor %q appears twice", ErrFormat, ti.Name)
		}
		f.tensor[ti.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, ti)
	}
	f.DataOffset = int64((uint64(d.off) + f.Alignment - 1) / f.Alignment * f.Alignment)
	for _, ti := range f.Tensors {
		if _, err := f.dataRange(ti); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// dataRange checks ti and returns its size in bytes.
func (f *File) dataRange(ti TensorInfo) (int64, error) {
	if !ti.Type.known() {
		return 0, fmt.Errorf("%w: tensor %q has type %v, which this reader does not decode", ErrFormat, ti.Name, ti.Type)
	}
	n := uint64(1)
	for _, dim := range ti.Dims {
		if dim == 0 || dim > maxElements/n {
			return 0, fmt.Errorf("%w: tensor %q has dimensions %v", ErrFormat, ti.Name, ti.Dims)
		}
		n *= dim
	}
	if ti.Dims[0]%uint64(ti.Type.BlockSize()) != 0 {
		return 0, fmt.Errorf("%w: tensor %q: first dimension %d is not a multiple of %v's block size", ErrFormat, ti.Name, ti.Dims[0], ti.Type)
	}
	size, err := ti.Type.Bytes(int(n))
	if err != nil {
		return 0, fmt.Errorf("%w: tensor %q: %v", ErrFormat, ti.Name, err)
	}
	if ti.Offset%f.Alignment != 0 {
		return 0, fmt.Errorf("%w: tensor %q: offset %d is not a multiple of the alignment %d", ErrFormat, ti.Name, ti.Offset, f.Alignment)
	}
	if ti.Offset > uint64(f.size) || uint64(f.DataOffset)+ti.Offset+uint64(size) > uint64(f.size) {
		return 0, fmt.Errorf("%w: tensor %q: data [%d, +%d) past the end of the file (%d bytes)", ErrFormat, ti.Name, ti.Offset, size, f.size)
	}
	return size, nil
}

// Value returns the metadata value of key.
func (f *File) Value(key string) (any, bool) {
	i, ok := f.kv[key]
	if !ok {
		return nil, false
	}
	return f.KV[i].Value, true
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.tensor[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// TensorBytes returns the named tensor's raw encoded data.
func (f *File) TensorBytes(name string) ([]byte, error) {
	ti, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("gguf: no tensor %q", name)
	}
	size, err := f.dataRange(ti)
	if err != nil {
		return nil, err
	}
	b := make([]byte, size)
	if _, err := f.r.ReadAt(b, f.DataOffset+int64(ti.Offset)); err != nil {
		return nil, fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	return b, nil
}

// Float32 returns the named tensor's values decoded to float32, in ggml
// order (Dims[0] fastest).
func (f *File) Float32(name string) ([]float32, error) {
	b, err := f.TensorBytes(name)
	if err != nil {
		return nil, err
	}
	ti, _ := f.Tensor(name)
	return Decode(make([]float32, 0, ti.Elements()), ti.Type, b, int(ti.Elements()))
}

// decoder reads little-endian values from an io.ReaderAt with a sticky error.
type decoder struct {
	r    io.ReaderAt
	size int64
	off  int64
	err  error
	tmp  [8]byte
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(d.size-d.off) {
		d.err = fmt.Errorf("%w: %d bytes wanted at offset %d, the file has %d", ErrFormat, n, d.off, d.size)
		return nil
	}
	var b []byte
	if n <= uint64(len(d.tmp)) {
		b = d.tmp[:n]
	} else {
		b = make([]byte, n)
	}
	if _, err := d.r.ReadAt(b, d.off); err != nil {
		d.err = fmt.Errorf("%w: reading at offset %d: %v", ErrFormat, d.off, err)
		return nil
	}
	d.off += int64(n)
	return b
}

func (d *decoder) u8() uint8 {
	b := d.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) u16() uint16 {
	b := d.bytes(2)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

func (d *decoder) u32() uint32 {
	b := d.bytes(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (d *decoder) u64() uint64 {
	b := d.bytes(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

func (d *decoder) str() string {
	n := d.u64()
	return string(d.bytes(n))
}

func (d *decoder) boolean() bool {
	v := d.u8()
	if v > 1 && d.err == nil {
		d.err = fmt.Errorf("%w: bool value %d at offset %d", ErrFormat, v, d.off-1)
	}
	return v == 1
}

// value reads one value of type t; arrays only when allowArray.
func (d *decoder) value(t ValueType, allowArray bool) any {
	switch t {
	case TypeUint8:
		return d.u8()
	case TypeInt8:
		return int8(d.u8())
	case TypeUint16:
		return d.u16()
	case TypeInt16:
		return int16(d.u16())
	case TypeUint32:
		return d.u32()
	case TypeInt32:
		return int32(d.u32())
	case TypeFloat32:
		return math.Float32frombits(d.u32())
	case TypeBool:
		return d.boolean()
	case TypeString:
		return d.str()
	case TypeUint64:
		return d.u64()
	case TypeInt64:
		return int64(d.u64())
	case TypeFloat64:
		return math.Float64frombits(d.u64())
	case TypeArray:
		if !allowArray {
			d.fail(fmt.Errorf("%w: nested arrays are not supported", ErrFormat))
			return nil
		}
		return d.array()
	}
	d.fail(fmt.Errorf("%w: unknown value type %d", ErrFormat, uint32(t)))
	return nil
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) array() any {
	et := ValueType(d.u32())
	n := d.u64()
	if d.err != nil {
		return nil
	}
	minSize := uint64(et.size())
	if et == TypeString {
		minSize = 8
	}
	if et == TypeArray || minSize == 0 {
		d.fail(fmt.Errorf("%w: array of %v", ErrFormat, et))
		return nil
	}
	if n > uint64(d.size-d.off)/minSize {
		d.fail(fmt.Errorf("%w: array of %d %v at offset %d cannot fit in the file", ErrFormat, n, et, d.off))
		return nil
	}
	switch et {
	case TypeUint8:
		return collect(d, n, d.u8)
	case TypeInt8:
		return collect(d, n, func() int8 { return int8(d.u8()) })
	case TypeUint16:
		return collect(d, n, d.u16)
	case TypeInt16:
		return collect(d, n, func() int16 { return int16(d.u16()) })
	case TypeUint32:
		return collect(d, n, d.u32)
	case TypeInt32:
		return collect(d, n, func() int32 { return int32(d.u32()) })
	case TypeFloat32:
		return collect(d, n, func() float32 { return math.Float32frombits(d.u32()) })
	case TypeBool:
		return collect(d, n, d.boolean)
	case TypeString:
		return collect(d, n, d.str)
	case TypeUint64:
		return collect(d, n, d.u64)
	case TypeInt64:
		return collect(d, n, func() int64 { return int64(d.u64()) })
	case TypeFloat64:
		return collect(d, n, func() float64 { return math.Float64frombits(d.u64()) })
	}
	return nil
}

func collect[T any](d *decoder, n uint64, next func() T) []T {
	out := make([]T, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		out = append(out, next())
	}
	return out
}
