package safetensors

// DType is a safetensors element type, spelled as it appears in the header.
type DType string

// The element types defined by the safetensors format.
const (
	F64    DType = "F64"
	F32    DType = "F32"
	F16    DType = "F16"
	BF16   DType = "BF16"
	F8E4M3 DType = "F8_E4M3"
	F8E5M2 DType = "F8_E5M2"
	I64    DType = "I64"
	I32    DType = "I32"
	I16    DType = "I16"
	I8     DType = "I8"
	U64    DType = "U64"
	U32    DType = "U32"
	U16    DType = "U16"
	U8     DType = "U8"
	Bool   DType = "BOOL"
)

// Size returns the number of bytes one element occupies, or 0 for a dtype
// this package does not know.
func (d DType) Size() int {
	switch d {
	case F64, I64, U64:
		return 8
	case F32, I32, U32:
		return 4
	case F16, BF16, I16, U16:
		return 2
	case F8E4M3, F8E5M2, I8, U8, Bool:
		return 1
	}
	return 0
}

// IsFloat reports whether Float32 can read (and Write can store float data
// as) this dtype: F64, F32, F16 or BF16.
func (d DType) IsFloat() bool {
	switch d {
	case F64, F32, F16, BF16:
		return true
	}
	return false
}

// IsInt reports whether Int64 can read (and Write can store int data as)
// this dtype: every integer type whose values fit in an int64 (I64, I32,
// I16, I8, U32, U16, U8) and BOOL (read as 0 or 1). U64 is excluded.
func (d DType) IsInt() bool {
	switch d {
	case I64, I32, I16, I8, U32, U16, U8, Bool:
		return true
	}
	return false
}

// intRange returns the inclusive range of values an integer dtype holds.
func (d DType) intRange() (lo, hi int64) {
	switch d {
	case I64:
		return -1 << 63, 1<<63 - 1
	case I32:
		return -1 << 31, 1<<31 - 1
	case I16:
		return -1 << 15, 1<<15 - 1
	case I8:
		return -1 << 7, 1<<7 - 1
	case U32:
		return 0, 1<<32 - 1
	case U16:
		return 0, 1<<16 - 1
	case U8:
		return 0, 1<<8 - 1
	case Bool:
		return 0, 1
	}
	return 0, -1
}
