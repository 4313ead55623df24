package gguf

import (
	"fmt"
	"math"

	"github.com/orthotune/orthotune/tensor"
)

// Magic is the first four bytes of a GGUF file.
const Magic = "GGUF"

// Version is the format version this package writes and reads.
const Version = 3

// DefaultAlignment is the data alignment when "general.alignment" is absent.
const DefaultAlignment = 32

// KeyAlignment is the metadata key that sets the alignment (a uint32, a
// power of two).
const KeyAlignment = "general.alignment"

// MaxDims is the most dimensions a tensor may have (ggml's GGML_MAX_DIMS).
const MaxDims = 4

// ValueType is the type tag of a metadata value.
type ValueType uint32

// The metadata value types of the GGUF specification.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(t))
}

// size is the encoded size of a fixed-size scalar (0 for string and array).
func (t ValueType) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// KV is one metadata key-value pair. Value holds one of the Go types listed
// in the package documentation.
type KV struct {
	Key   string
	Value any
}

// typeOf returns the GGUF type of a Go value and, for a slice, its element
// type.
func typeOf(v any) (t, elem ValueType, err error) {
	switch v.(type) {
	case uint8:
		return TypeUint8, 0, nil
	case int8:
		return TypeInt8, 0, nil
	case uint16:
		return TypeUint16, 0, nil
	case int16:
		return TypeInt16, 0, nil
	case uint32:
		return TypeUint32, 0, nil
	case int32:
		return TypeInt32, 0, nil
	case float32:
		return TypeFloat32, 0, nil
	case bool:
		return TypeBool, 0, nil
	case string:
		return TypeString, 0, nil
	case uint64:
		return TypeUint64, 0, nil
	case int64:
		return TypeInt64, 0, nil
	case float64:
		return TypeFloat64, 0, nil
	case []uint8:
		return TypeArray, TypeUint8, nil
	case []int8:
		return TypeArray, TypeInt8, nil
	case []uint16:
		return TypeArray, TypeUint16, nil
	case []int16:
		return TypeArray, TypeInt16, nil
	case []uint32:
		return TypeArray, TypeUint32, nil
	case []int32:
		return TypeArray, TypeInt32, nil
	case []float32:
		return TypeArray, TypeFloat32, nil
	case []bool:
		return TypeArray, TypeBool, nil
	case []string:
		return TypeArray, TypeString, nil
	case []uint64:
		return TypeArray, TypeUint64, nil
	case []int64:
		return TypeArray, TypeInt64, nil
	case []float64:
		return TypeArray, TypeFloat64, nil
	}
	return 0, 0, fmt.Errorf("gguf: metadata value of Go type %T has no GGUF type", v)
}

// TensorType is a ggml tensor type.
type TensorType uint32

// The tensor types this package converts to and from float32 (ggml's
// numbering).
const (
	F32  TensorType = 0
	F16  TensorType = 1
	Q8_0 TensorType = 8
	BF16 TensorType = 30
)

// QK8_0 is the number of values in one Q8_0 block.
const QK8_0 = 32

// q8Block is the size in bytes of one Q8_0 block: an fp16 scale and 32 int8.
const q8Block = 2 + QK8_0

func (t TensorType) String() string {
	switch t {
	case F32:
		return "F32"
	case F16:
		return "F16"
	case Q8_0:
		return "Q8_0"
	case BF16:
		return "BF16"
	}
	return fmt.Sprintf("TensorType(%d)", uint32(t))
}

// ParseTensorType reads a type's name as String writes it, in either case
// ("f16", "Q8_0").
func ParseTensorType(s string) (TensorType, error) {
	for _, t := range []TensorType{F32, F16, BF16, Q8_0} {
		if equalFold(s, t.String()) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("gguf: unknown tensor type %q (want f32, f16, bf16 or q8_0)", s)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// BlockSize is the number of values one block of t holds (1 for the float
// types). A tensor's first dimension must be a multiple of it.
func (t TensorType) BlockSize() int {
	if t == Q8_0 {
		return QK8_0
	}
	return 1
}

// known reports whether this package can encode and decode t.
func (t TensorType) known() bool { return t == F32 || t == F16 || t == BF16 || t == Q8_0 }

// Bytes is the encoded size of n values of type t; n must be a multiple of
// BlockSize.
func (t TensorType) Bytes(n int) (int64, error) {
	switch t {
	case F32:
		return int64(n) * 4, nil
	case F16, BF16:
		return int64(n) * 2, nil
	case Q8_0:
		if n%QK8_0 != 0 {
			return 0, fmt.Errorf("gguf: %d values are not whole Q8_0 blocks of %d", n, QK8_0)
		}
		return int64(n/QK8_0) * q8Block, nil
	}
	return 0, fmt.Errorf("gguf: tensor type %v is not supported", t)
}

// Encode appends the encoding of x as type t to dst; len(x) must be a
// multiple of t's BlockSize.
func Encode(dst []byte, t TensorType, x []float32) ([]byte, error) {
	switch t {
	case F32:
		for _, v := range x {
			b := math.Float32bits(v)
			dst = append(dst, byte(b), byte(b>>8), byte(b>>16), byte(b>>24))
		}
	case F16:
		for _, v := range x {
			h := tensor.F32ToF16(v)
			dst = append(dst, byte(h), byte(h>>8))
		}
	case BF16:
		for _, v := range x {
			h := tensor.F32ToBF16(v)
			dst = append(dst, byte(h), byte(h>>8))
		}
	case Q8_0:
		if len(x)%QK8_0 != 0 {
			return dst, fmt.Errorf("gguf: %d values are not whole Q8_0 blocks of %d", len(x), QK8_0)
		}
		for i := 0; i < len(x); i += QK8_0 {
			dst = appendQ8Block(dst, x[i:i+QK8_0])
		}
	default:
		return dst, fmt.Errorf("gguf: tensor type %v is not supported", t)
	}
	return dst, nil
}

// appendQ8Block quantises 32 values as ggml's quantize_row_q8_0_ref: d =
// max|x|/127, q = round(x·(1/d)) half away from zero, d stored as fp16.
func appendQ8Block(dst []byte, x []float32) []byte {
	var amax float32
	for _, v := range x {
		if a := float32(math.Abs(float64(v))); a > amax {
			amax = a
		}
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	h := tensor.F32ToF16(d)
	dst = append(dst, byte(h), byte(h>>8))
	for _, v := range x {
		dst = append(dst, byte(int8(math.Round(float64(v*id)))))
	}
	return dst
}

// Decode converts n values of type t encoded in src to float32, appending
// to dst. src must hold exactly t.Bytes(n) bytes.
func Decode(dst []float32, t TensorType, src []byte, n int) ([]float32, error) {
	size, err := t.Bytes(n)
	if err != nil {
		return dst, err
	}
	if int64(len(src)) != size {
		return dst, fmt.Errorf("gguf: %d bytes for %d %v values, want %d", len(src), n, t, size)
	}
	switch t {
	case F32:
		for i := 0; i < n; i++ {
			b := uint32(src[4*i]) | uint32(src[4*i+1])<<8 | uint32(src[4*i+2])<<16 | uint32(src[4*i+3])<<24
			dst = append(dst, math.Float32frombits(b))
		}
	case F16:
		for i := 0; i < n; i++ {
			dst = append(dst, tensor.F16ToF32(uint16(src[2*i])|uint16(src[2*i+1])<<8))
		}
	case BF16:
		for i := 0; i < n; i++ {
			dst = append(dst, tensor.BF16ToF32(uint16(src[2*i])|uint16(src[2*i+1])<<8))
		}
	case Q8_0:
		for b := 0; b < n/QK8_0; b++ {
			blk := src[b*q8Block : (b+1)*q8Block]
			d := tensor.F16ToF32(uint16(blk[0]) | uint16(blk[1])<<8)
			for _, q := range blk[2:] {
				dst = append(dst, d*float32(int8(q)))
			}
		}
	}
	return dst, nil
}
