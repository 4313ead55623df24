package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/orthotune/orthotune/tensor"
)

// MaxHeaderSize is the largest header, in bytes, that Parse accepts. It
// matches the limit of the reference implementation.
const MaxHeaderSize = 100 << 20

// metadataKey is the reserved header key holding the file's string metadata.
const metadataKey = "__metadata__"

var (
	// ErrNotFound is wrapped by the error returned for a tensor name that
	// the file or checkpoint does not hold.
	ErrNotFound = errors.New("tensor not found")
	// ErrClosed is wrapped by the error returned when reading from a File
	// or Checkpoint after Close.
	ErrClosed = errors.New("file is closed")
)

// TensorInfo describes one tensor in a safetensors file. Begin and End are
// byte offsets relative to the start of the data section, End exclusive.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int
	Begin int64
	End   int64
}

// Numel returns the number of elements the tensor holds.
func (ti TensorInfo) Numel() int {
	n, _ := tensor.Numel(ti.Shape) // validated at parse time
	return n
}

// File is a parsed safetensors file. Its methods may be called concurrently,
// except Close, which must not overlap any other call.
type File struct {
	path     string
	data     []byte // whole file
	body     []byte // data section: data[8+N:]
	tensors  map[string]TensorInfo
	names    []string // sorted
	metadata map[string]string
	unmap    func() error // releases data; nil when data is not mapped
	closed   bool
}

// Parse parses and validates a safetensors file held in data. name is used
// only in error messages (and is what Path returns). The File refers to data
// without copying it, so data must not be modified while the File is in use;
// tensors returned by Float32 and Int64 are copies.
func Parse(name string, data []byte) (*File, error) {
	f := &File{path: name, data: data}
	if err := f.parse(); err != nil {
		return nil, err
	}
	return f, nil
}

// errorf formats an error naming the file and, if tensor is non-empty, the
// tensor.
func (f *File) errorf(tensorName, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if tensorName != "" {
		return fmt.Errorf("safetensors: %s: tensor %q: %s", f.path, tensorName, msg)
	}
	return fmt.Errorf("safetensors: %s: %s", f.path, msg)
}

func (f *File) parse() error {
	if len(f.data) < 8 {
		return f.errorf("", "file is %d bytes, shorter than the 8-byte header length", len(f.data))
	}
	n := binary.LittleEndian.Uint64(f.data[:8])
	if n > MaxHeaderSize {
		return f.errorf("", "header length %d exceeds the %d-byte limit", n, MaxHeaderSize)
	}
	if n > uint64(len(f.data)-8) {
		return f.errorf("", "header length %d exceeds the %d bytes after the length prefix", n, len(f.data)-8)
	}
	header := f.data[8 : 8+n]
	f.body = f.data[8+n:]
	if !utf8.Valid(header) {
		return f.errorf("", "header is not valid UTF-8")
	}
	trimmed := bytes.TrimLeft(header, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return f.errorf("", "header is not a JSON object")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return f.errorf("", "header is not valid JSON: %v", err)
	}
	f.tensors = make(map[string]TensorInfo, len(raw))
	for name, msg := range raw {
		if name == metadataKey {
			if err := f.parseMetadata(msg); err != nil {
				return err
			}
			continue
		}
		ti, err := f.parseEntry(name, msg)
		if err != nil {
			return err
		}
		f.tensors[name] = ti
		f.names = append(f.names, name)
	}
	sort.Strings(f.names)
	return f.checkLayout()
}

func (f *File) parseMetadata(msg json.RawMessage) error {
	var md map[string]string
	if err := json.Unmarshal(msg, &md); err != nil {
		return f.errorf("", "%s is not a map of strings to strings: %s", metadataKey, excerpt(msg))
	}
	f.metadata = md
	return nil
}

// excerpt shortens a JSON value for an error message.
func excerpt(msg []byte) string {
	const max = 60
	if len(msg) > max {
		return string(msg[:max]) + "..."
	}
	return string(msg)
}

func isObject(msg []byte) bool {
	msg = bytes.TrimLeft(msg, " \t\r\n")
	return len(msg) > 0 && msg[0] == '{'
}

func (f *File) parseEntry(name string, msg json.RawMessage) (TensorInfo, error) {
	ti := TensorInfo{Name: name}
	if name == "" {
		return ti, f.errorf("", "tensor with empty name (entry %s)", excerpt(msg))
	}
	var fields map[string]json.RawMessage
	if !isObject(msg) || json.Unmarshal(msg, &fields) != nil {
		return ti, f.errorf(name, "entry is not a JSON object: %s", excerpt(msg))
	}
	for _, key := range []string{"dtype", "shape", "data_offsets"} {
		if v, ok := fields[key]; !ok || string(v) == "null" {
			return ti, f.errorf(name, "entry lacks %s", key)
		}
	}

	var dt string
	if err := json.Unmarshal(fields["dtype"], &dt); err != nil {
		return ti, f.errorf(name, "dtype is not a string: %s", excerpt(fields["dtype"]))
	}
	ti.DType = DType(dt)
	if ti.DType.Size() == 0 {
		return ti, f.errorf(name, "unknown dtype %q", dt)
	}

	shape, err := parseInts(fields["shape"])
	if err != nil {
		return ti, f.errorf(name, "shape %s: %v", excerpt(fields["shape"]), err)
	}
	ti.Shape = make([]int, len(shape))
	for i, d := range shape {
		if d > math.MaxInt {
			return ti, f.errorf(name, "shape %v: dimension %d overflows int", shape, d)
		}
		ti.Shape[i] = int(d)
	}
	numel, err := tensor.Numel(ti.Shape)
	if err != nil || int64(numel) < 0 {
		return ti, f.errorf(name, "shape %v: element count overflows", shape)
	}
	size := int64(ti.DType.Size())
	if int64(numel) > math.MaxInt64/size {
		return ti, f.errorf(name, "shape %v %s: byte size overflows int64", shape, ti.DType)
	}
	need := int64(numel) * size

	offs, err := parseInts(fields["data_offsets"])
	if err != nil {
		return ti, f.errorf(name, "data_offsets %s: %v", excerpt(fields["data_offsets"]), err)
	}
	if len(offs) != 2 {
		return ti, f.errorf(name, "data_offsets %v: want [begin, end], got %d values", offs, len(offs))
	}
	ti.Begin, ti.End = offs[0], offs[1]
	if ti.Begin > ti.End {
		return ti, f.errorf(name, "data_offsets %v: begin %d > end %d", offs, ti.Begin, ti.End)
	}
	if ti.End > int64(len(f.body)) {
		return ti, f.errorf(name, "data_offsets %v: end %d lies beyond the %d-byte data section", offs, ti.End, len(f.body))
	}
	if got := ti.End - ti.Begin; got != need {
		return ti, f.errorf(name, "data_offsets %v hold %d bytes, shape %v %s needs %d", offs, got, ti.Shape, ti.DType, need)
	}
	return ti, nil
}

// parseInts decodes a JSON array of non-negative integers that fit in an
// int64, rejecting fractions, exponents, negative numbers and non-numbers.
func parseInts(msg json.RawMessage) ([]int64, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(msg, &elems); err != nil || elems == nil {
		return nil, errors.New("not a JSON array")
	}
	out := make([]int64, len(elems))
	for i, e := range elems {
		s := string(e)
		if s == "" || s[0] < '0' || s[0] > '9' {
			if len(s) > 1 && s[0] == '-' && s[1] >= '0' && s[1] <= '9' {
				return nil, fmt.Errorf("element %d (%s) is negative", i, excerpt(e))
			}
			return nil, fmt.Errorf("element %d (%s) is not a non-negative integer", i, excerpt(e))
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return nil, fmt.Errorf("element %d (%s) overflows int64", i, excerpt(e))
			}
			return nil, fmt.Errorf("element %d (%s) is not an integer", i, excerpt(e))
		}
		out[i] = v
	}
	return out, nil
}

// checkLayout enforces the reference implementation's rule: in offset order
// the tensors are contiguous, start at 0 and end at the end of the data
// section.
func (f *File) checkLayout() error {
	order := slices.Clone(f.names)
	slices.SortFunc(order, func(a, b string) int {
		ta, tb := f.tensors[a], f.tensors[b]
		if ta.Begin != tb.Begin {
			return cmpInt64(ta.Begin, tb.Begin)
		}
		if ta.End != tb.End {
			return cmpInt64(ta.End, tb.End)
		}
		return 0
	})
	var pos int64
	prev := ""
	for _, name := range order {
		ti := f.tensors[name]
		if ti.Begin != pos {
			if prev == "" {
				return f.errorf(name, "data_offsets [%d %d]: first tensor must begin at 0 (tensors must be contiguous)", ti.Begin, ti.End)
			}
			what := "leaves a gap after"
			if ti.Begin < pos {
				what = "overlaps"
			}
			return f.errorf(name, "data_offsets [%d %d] %s tensor %q ending at %d (tensors must be contiguous)", ti.Begin, ti.End, what, prev, pos)
		}
		pos, prev = ti.End, name
	}
	if pos != int64(len(f.body)) {
		return f.errorf("", "data section is %d bytes but tensors cover only %d", len(f.body), pos)
	}
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Path returns the path the file was opened from (the name given to Parse).
func (f *File) Path() string { return f.path }

// Metadata returns a copy of the header's "__metadata__" map (nil if absent).
func (f *File) Metadata() map[string]string {
	if f.metadata == nil {
		return nil
	}
	md := make(map[string]string, len(f.metadata))
	for k, v := range f.metadata {
		md[k] = v
	}
	return md
}

// Names returns the tensor names in sorted order.
func (f *File) Names() []string { return slices.Clone(f.names) }

// Info returns the description of the named tensor.
func (f *File) Info(name string) (TensorInfo, bool) {
	ti, ok := f.tensors[name]
	if ok {
		ti.Shape = slices.Clone(ti.Shape)
	}
	return ti, ok
}

// Close releases the file's memory mapping, if any. Tensors already returned
// stay valid; later reads fail with ErrClosed. Close is idempotent.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.data, f.body = nil, nil
	if f.unmap != nil {
		err := f.unmap()
		f.unmap = nil
		if err != nil {
			return fmt.Errorf("safetensors: %s: unmap: %w", f.path, err)
		}
	}
	return nil
}

// lookup returns the tensor's info and raw bytes.
func (f *File) lookup(name string) (TensorInfo, []byte, error) {
	if f.closed {
		return TensorInfo{}, nil, fmt.Errorf("safetensors: %s: tensor %q: %w", f.path, name, ErrClosed)
	}
	ti, ok := f.tensors[name]
	if !ok {
		return TensorInfo{}, nil, fmt.Errorf("safetensors: %s: tensor %q: %w", f.path, name, ErrNotFound)
	}
	return ti, f.body[ti.Begin:ti.End], nil
}

// Float32 returns the named tensor converted to a freshly allocated float32
// tensor. It reads F32, F16, BF16 and F64 (rounded to nearest) tensors; any
// other dtype is an error.
func (f *File) Float32(name string) (*tensor.Tensor, error) {
	ti, raw, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	if !ti.DType.IsFloat() {
		return nil, f.errorf(name, "dtype %s cannot be read as float32 (want F32, F16, BF16 or F64)", ti.DType)
	}
	out := make([]float32, len(raw)/ti.DType.Size())
	decodeFloats(out, raw, ti.DType)
	return &tensor.Tensor{Shape: slices.Clone(ti.Shape), Data: out}, nil
}

// Int64 returns the named integer tensor widened to int64, with its shape.
// It reads I64, I32, I16, I8, U32, U16, U8 and BOOL tensors; any other dtype
// (including U64, whose values may not fit) is an error.
func (f *File) Int64(name string) ([]int64, []int, error) {
	ti, raw, err := f.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	if !ti.DType.IsInt() {
		return nil, nil, f.errorf(name, "dtype %s cannot be read as int64 (want I64, I32, I16, I8, U32, U16, U8 or BOOL)", ti.DType)
	}
	out := make([]int64, len(raw)/ti.DType.Size())
	decodeInts(out, raw, ti.DType)
	return out, slices.Clone(ti.Shape), nil
}
