package safetensors

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/orthotune/orthotune/tensor"
)

// littleEndian reports whether the host stores integers little-endian, in
// which case F32 data can be copied byte for byte.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

var le = binary.LittleEndian

// decodeFloats converts len(dst) elements of dtype dt from src.
func decodeFloats(dst []float32, src []byte, dt DType) {
	switch dt {
	case F32:
		if littleEndian && len(dst) > 0 {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)), src)
			return
		}
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = tensor.F16ToF32(le.Uint16(src[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = tensor.BF16ToF32(le.Uint16(src[2*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(src[8*i:])))
		}
	}
}

// encodeFloats appends src converted to dtype dt.
func encodeFloats(dst []byte, src []float32, dt DType) []byte {
	switch dt {
	case F32:
		for _, v := range src {
			dst = le.AppendUint32(dst, math.Float32bits(v))
		}
	case F16:
		for _, v := range src {
			dst = le.AppendUint16(dst, tensor.F32ToF16(v))
		}
	case BF16:
		for _, v := range src {
			dst = le.AppendUint16(dst, tensor.F32ToBF16(v))
		}
	case F64:
		for _, v := range src {
			dst = le.AppendUint64(dst, math.Float64bits(float64(v)))
		}
	}
	return dst
}

// decodeInts widens len(dst) elements of integer dtype dt from src.
func decodeInts(dst []int64, src []byte, dt DType) {
	switch dt {
	case I64:
		for i := range dst {
			dst[i] = int64(le.Uint64(src[8*i:]))
		}
	case I32:
		for i := range dst {
			dst[i] = int64(int32(le.Uint32(src[4*i:])))
		}
	case U32:
		for i := range dst {
			dst[i] = int64(le.Uint32(src[4*i:]))
		}
	case I16:
		for i := range dst {
			dst[i] = int64(int16(le.Uint16(src[2*i:])))
		}
	case U16:
		for i := range dst {
			dst[i] = int64(le.Uint16(src[2*i:]))
		}
	case I8:
		for i := range dst {
			dst[i] = int64(int8(src[i]))
		}
	case U8:
		for i := range dst {
			dst[i] = int64(src[i])
		}
	case Bool:
		for i := range dst {
			if src[i] != 0 {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	}
}

// encodeInts appends src narrowed to integer dtype dt; the caller has
// checked every value fits.
func encodeInts(dst []byte, src []int64, dt DType) []byte {
	for _, v := range src {
		switch dt.Size() {
		case 8:
			dst = le.AppendUint64(dst, uint64(v))
		case 4:
			dst = le.AppendUint32(dst, uint32(v))
		case 2:
			dst = le.AppendUint16(dst, uint16(v))
		case 1:
			dst = append(dst, byte(v))
		}
	}
	return dst
}
