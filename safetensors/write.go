package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/orthotune/orthotune/internal/atomicfile"
	"github.com/orthotune/orthotune/tensor"
)

// Entry is one tensor to write. Float data is converted to DType, which must
// be F32, F16, BF16 or F64 (rounded to nearest, ties to even); Int data is
// stored for the integer dtypes I64, I32, I16, I8, U32, U16, U8 and BOOL, and
// every value must fit the dtype. Exactly the slice matching DType is used;
// its length must equal the shape's element count.
type Entry struct {
	Name  string
	DType DType
	Shape []int
	Float []float32
	Int   []int64
}

// headerEntry fixes the key order of a tensor's header entry.
type headerEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// checkEntries validates entries and returns them sorted by name.
func checkEntries(entries []Entry) ([]Entry, error) {
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	for i, e := range sorted {
		if e.Name == "" {
			return nil, errors.New("entry with empty name")
		}
		if e.Name == metadataKey {
			return nil, fmt.Errorf("entry name %q is reserved", e.Name)
		}
		if i > 0 && sorted[i-1].Name == e.Name {
			return nil, fmt.Errorf("duplicate entry %q", e.Name)
		}
		numel, err := tensor.Numel(e.Shape)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %v", e.Name, err)
		}
		switch {
		case e.DType.IsFloat():
			if e.Int != nil {
				return nil, fmt.Errorf("entry %q: dtype %s takes Float data, not Int", e.Name, e.DType)
			}
			if len(e.Float) != numel {
				return nil, fmt.Errorf("entry %q: shape %v holds %d elements, Float has %d", e.Name, e.Shape, numel, len(e.Float))
			}
		case e.DType.IsInt():
			if e.Float != nil {
				return nil, fmt.Errorf("entry %q: dtype %s takes Int data, not Float", e.Name, e.DType)
			}
			if len(e.Int) != numel {
				return nil, fmt.Errorf("entry %q: shape %v holds %d elements, Int has %d", e.Name, e.Shape, numel, len(e.Int))
			}
			lo, hi := e.DType.intRange()
			for j, v := range e.Int {
				if v < lo || v > hi {
					return nil, fmt.Errorf("entry %q: Int[%d] = %d does not fit %s", e.Name, j, v, e.DType)
				}
			}
		default:
			return nil, fmt.Errorf("entry %q: unsupported dtype %q for writing", e.Name, e.DType)
		}
	}
	return sorted, nil
}

// header builds the padded header for sorted, validated entries.
func header(sorted []Entry, metadata map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	if len(metadata) > 0 {
		md, err := json.Marshal(metadata) // keys sorted
		if err != nil {
			return nil, fmt.Errorf("metadata: %v", err)
		}
		buf.WriteString(`"__metadata__":`)
		buf.Write(md)
	}
	var off int64
	for i, e := range sorted {
		size := int64(len(e.Float)+len(e.Int)) * int64(e.DType.Size())
		shape := e.Shape
		if shape == nil {
			shape = []int{}
		}
		he, err := json.Marshal(headerEntry{DType: e.DType, Shape: shape, DataOffsets: [2]int64{off, off + size}})
		if err != nil {
			return nil, err
		}
		name, err := json.Marshal(e.Name)
		if err != nil {
			return nil, err
		}
		if i > 0 || len(metadata) > 0 {
			buf.WriteByte(',')
		}
		buf.Write(name)
		buf.WriteByte(':')
		buf.Write(he)
		off += size
	}
	buf.WriteByte('}')
	for (8+buf.Len())%8 != 0 {
		buf.WriteByte(' ')
	}
	return buf.Bytes(), nil
}

// encode writes the complete file to w.
func encode(w io.Writer, entries []Entry, metadata map[string]string) error {
	sorted, err := checkEntries(entries)
	if err != nil {
		return err
	}
	hdr, err := header(sorted, metadata)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(len(hdr)))
	bw.Write(prefix[:])
	bw.Write(hdr)
	const chunk = 1 << 14 // elements converted per step
	var scratch []byte
	for _, e := range sorted {
		for start := 0; start < len(e.Float); start += chunk {
			scratch = encodeFloats(scratch[:0], e.Float[start:min(start+chunk, len(e.Float))], e.DType)
			bw.Write(scratch)
		}
		for start := 0; start < len(e.Int); start += chunk {
			scratch = encodeInts(scratch[:0], e.Int[start:min(start+chunk, len(e.Int))], e.DType)
			bw.Write(scratch)
		}
	}
	return bw.Flush()
}

// Encode returns the safetensors encoding of entries with the given metadata
// (omitted when empty), exactly as Write stores it: tensors laid out in
// sorted name order, header padded with spaces so the data section starts
// at a multiple of 8 bytes.
func Encode(entries []Entry, metadata map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	if err := encode(&buf, entries, metadata); err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return buf.Bytes(), nil
}

// Write stores entries and metadata at path as a safetensors file (see
// Encode). It writes a temporary file in the same directory, syncs it and
// renames it over path, so path is either left untouched or fully replaced;
// on any error the temporary file is removed.
func Write(path string, entries []Entry, metadata map[string]string) (err error) {
	sorted, err := checkEntries(entries) // fail before touching the disk
	if err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { return encode(w, sorted, metadata) }); err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return nil
}
