package safetensors

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// build assembles a file from a header string and a data section.
func build(header string, body []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, body...)
}

// withLength replaces the header length prefix.
func withLength(data []byte, n uint64) []byte {
	binary.LittleEndian.PutUint64(data, n)
	return data
}

const badName = "bad.safetensors"

func TestMalformed(t *testing.T) {
	body16 := make([]byte, 16)
	tests := []struct {
		name string
		data []byte
		want []string // substrings of the error besides the file name
	}{
		{"empty file", nil, []string{"file is 0 bytes, shorter than the 8-byte header length"}},
		{"short file", []byte{1, 2, 3}, []string{"file is 3 bytes"}},
		{"header longer than file", withLength(build(`{}`, nil), 1000), []string{"header length 1000 exceeds the 2 bytes"}},
		{"huge header length", withLength(build(`{}`, nil), 1<<62), []string{"header length 4611686018427387904 exceeds the 104857600-byte limit"}},
		{"max uint64 header length", withLength(build(`{}`, nil), ^uint64(0)), []string{"exceeds the 104857600-byte limit"}},
		{"empty header", build(``, nil), []string{"header is not a JSON object"}},
		{"non-JSON header", build(`{"a": `, nil), []string{"header is not valid JSON"}},
		{"trailing garbage", build(`{} x`, nil), []string{"header is not valid JSON"}},
		{"array header", build(`[1, 2]`, nil), []string{"header is not a JSON object"}},
		{"string header", build(`"hi"`, nil), []string{"header is not a JSON object"}},
		{"invalid UTF-8", build("{\"\xff\":1}", nil), []string{"header is not valid UTF-8"}},
		{"entry not object", build(`{"w": 5}`, nil), []string{`tensor "w"`, "entry is not a JSON object: 5"}},
		{"entry is array", build(`{"w": [1]}`, nil), []string{`tensor "w"`, "entry is not a JSON object"}},
		{"missing dtype", build(`{"w": {"shape": [4], "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, "lacks dtype"}},
		{"null dtype", build(`{"w": {"dtype": null, "shape": [4], "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, "lacks dtype"}},
		{"missing shape", build(`{"w": {"dtype": "F32", "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, "lacks shape"}},
		{"missing data_offsets", build(`{"w": {"dtype": "F32", "shape": [4]}}`, body16), []string{`tensor "w"`, "lacks data_offsets"}},
		{"dtype not string", build(`{"w": {"dtype": 4, "shape": [4], "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, "dtype is not a string: 4"}},
		{"unknown dtype", build(`{"w": {"dtype": "Q4_K", "shape": [4], "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, `unknown dtype "Q4_K"`}},
		{"lowercase dtype", build(`{"w": {"dtype": "f32", "shape": [4], "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, `unknown dtype "f32"`}},
		{"shape not array", build(`{"w": {"dtype": "F32", "shape": 4, "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, "shape 4: not a JSON array"}},
		{"negative shape", build(`{"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, "shape [-4]: element 0 (-4) is negative"}},
		{"fractional shape", build(`{"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, "shape [1.5]: element 0 (1.5) is not an integer"}},
		{"exponent shape", build(`{"w": {"dtype": "F32", "shape": [1e30], "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, "element 0 (1e30) is not an integer"}},
		{"exponent shape small", build(`{"w": {"dtype": "F32", "shape": [4e0], "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, "element 0 (4e0) is not an integer"}},
		{"string shape", build(`{"w": {"dtype": "F32", "shape": ["4"], "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, `element 0 ("4") is not a non-negative integer`}},
		{"null shape element", build(`{"w": {"dtype": "F32", "shape": [null], "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, "element 0 (null)"}},
		{"shape int64 overflow", build(`{"w": {"dtype": "F32", "shape": [99999999999999999999], "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, "overflows int64"}},
		{"element count overflow", build(`{"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4], "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, "shape [4294967296 4294967296 4]: element count overflows"}},
		{"byte size overflow", build(`{"w": {"dtype": "F32", "shape": [2147483648, 2147483648], "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, "shape [2147483648 2147483648] F32: byte size overflows int64"}},
		{"offsets not array", build(`{"w": {"dtype": "F32", "shape": [4], "data_offsets": "0-16"}}`, body16), []string{`tensor "w"`, "data_offsets", "not a JSON array"}},
		{"offsets one value", build(`{"w": {"dtype": "F32", "shape": [4], "data_offsets": [16]}}`, body16), []string{`tensor "w"`, "data_offsets [16]: want [begin, end], got 1 values"}},
		{"offsets negative", build(`{"w": {"dtype": "F32", "shape": [4], "data_offsets": [-16, 0]}}`, body16), []string{`tensor "w"`, "data_offsets", "(-16) is negative"}},
		{"offsets fractional", build(`{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16.0]}}`, body16), []string{`tensor "w"`, "data_offsets", "(16.0) is not an integer"}},
		{"offsets exponent", build(`{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 1e30]}}`, body16), []string{`tensor "w"`, "data_offsets", "(1e30) is not an integer"}},
		{"offsets overflow", build(`{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 18446744073709551616]}}`, body16), []string{`tensor "w"`, "data_offsets", "overflows int64"}},
		{"begin after end", build(`{"w": {"dtype": "F32", "shape": [4], "data_offsets": [16, 0]}}`, body16), []string{`tensor "w"`, "data_offsets [16 0]: begin 16 > end 0"}},
		{"end beyond data", build(`{"w": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}}`, body16), []string{`tensor "w"`, "data_offsets [0 32]: end 32 lies beyond the 16-byte data section"}},
		{"huge end", build(`{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 9223372036854775807]}}`, body16), []string{`tensor "w"`, "lies beyond the 16-byte data section"}},
		{"byte count mismatch", build(`{"lm_head.weight": {"dtype": "F32", "shape": [4, 8], "data_offsets": [0, 16]}}`, body16), []string{`tensor "lm_head.weight": data_offsets [0 16] hold 16 bytes, shape [4 8] F32 needs 128`}},
		{"byte count mismatch F16", build(`{"w": {"dtype": "F16", "shape": [4], "data_offsets": [0, 16]}}`, body16), []string{`tensor "w"`, "hold 16 bytes, shape [4] F16 needs 8"}},
		{"metadata not object", build(`{"__metadata__": [1]}`, nil), []string{"__metadata__ is not a map of strings to strings: [1]"}},
		{"metadata non-string value", build(`{"__metadata__": {"format": 1}}`, nil), []string{`__metadata__ is not a map of strings to strings: {"format": 1}`}},
		{"metadata nested", build(`{"__metadata__": {"a": {"b": "c"}}}`, nil), []string{"__metadata__ is not a map of strings to strings"}},
		{"first tensor not at 0", build(`{"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}`, body16), []string{`tensor "w"`, "data_offsets [8 16]: first tensor must begin at 0"}},
		{"gap", build(`{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}`, body16), []string{`tensor "b"`, `data_offsets [8 16] leaves a gap after tensor "a" ending at 4`}},
		{"overlap", build(`{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}`, body16), []string{`tensor "b"`, `data_offsets [8 16] overlaps tensor "a" ending at 12`}},
		{"aliased tensors", build(`{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "b": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}`, body16), []string{`tensor "b"`, `overlaps tensor "a"`}},
		{"trailing bytes", build(`{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}`, body16), []string{"data section is 16 bytes but tensors cover only 8"}},
		{"data but no tensors", build(`{}`, body16), []string{"data section is 16 bytes but tensors cover only 0"}},
		{"empty tensor name", build(`{"": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}`, body16), []string{"tensor with empty name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(badName, tc.data)
			if err == nil {
				t.Fatalf("Parse succeeded: %v", f.Names())
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "safetensors: "+badName+": ") {
				t.Errorf("error %q does not start with the file name", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// TestAccepted covers inputs that are unusual but valid.
func TestAccepted(t *testing.T) {
	body16 := make([]byte, 16)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty object", build(`{}`, nil)},
		{"space padded", build(`{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}       `, body16)},
		{"leading whitespace", build("  \n{}", nil)},
		{"null metadata", build(`{"__metadata__": null}`, nil)},
		{"unknown entry field", build(`{"w": {"dtype": "U8", "shape": [16], "data_offsets": [0, 16], "extra": 1}}`, body16)},
		{"offsets out of name order", build(`{"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}, "b": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}`, body16)},
		{"zero-size tensors share offsets", build(`{"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, "b": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "c": {"dtype": "F32", "shape": [3, 0], "data_offsets": [16, 16]}}`, body16)},
		{"zero dim with huge dims", build(`{"a": {"dtype": "F32", "shape": [0, 9223372036854775807, 9223372036854775807], "data_offsets": [0, 0]}}`, nil)},
		{"F8 and U64", build(`{"a": {"dtype": "F8_E4M3", "shape": [8], "data_offsets": [0, 8]}, "b": {"dtype": "U64", "shape": [1], "data_offsets": [8, 16]}}`, body16)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("ok.safetensors", tc.data)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range f.Names() {
				info, _ := f.Info(n)
				switch {
				case info.DType.IsFloat():
					_, err = f.Float32(n)
				case info.DType.IsInt():
					_, _, err = f.Int64(n)
				default:
					_, err = f.Float32(n)
					if err == nil {
						t.Errorf("Float32(%q) of %s succeeded", n, info.DType)
					}
					_, _, err = f.Int64(n)
					if err == nil {
						t.Errorf("Int64(%q) of %s succeeded", n, info.DType)
					}
					err = nil
				}
				if err != nil {
					t.Errorf("%s: %v", n, err)
				}
			}
		})
	}
}

// TestOpenErrorsNamePath checks Open's errors carry the path it was given.
func TestOpenErrorsNamePath(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty.safetensors", nil, "shorter than the 8-byte header length"},
		{"short.safetensors", []byte{1, 2, 3, 4, 5, 6, 7}, "shorter than the 8-byte header length"},
		{"lying.safetensors", build(`{"w": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}}`, make([]byte, 16)), `tensor "w": data_offsets [0 32]`},
	}
	for _, tc := range tests {
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
	missing := filepath.Join(dir, "missing.safetensors")
	if _, err := Open(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: err = %v", err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory: err = %v", err)
	}
}
