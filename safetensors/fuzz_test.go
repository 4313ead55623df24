package safetensors

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzParse checks that Parse never panics and that every tensor of a file
// it accepts can be read back.
func FuzzParse(f *testing.F) {
	// Seeds come from testdata/fuzz/FuzzParse (see TestWriteFuzzCorpus).
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.safetensors", data)
		if err != nil {
			return
		}
		names := file.Names()
		if !slices.IsSorted(names) {
			t.Fatalf("Names not sorted: %v", names)
		}
		for _, name := range names {
			info, ok := file.Info(name)
			if !ok {
				t.Fatalf("Info(%q) missing", name)
			}
			n := info.Numel()
			switch {
			case info.DType.IsFloat():
				x, err := file.Float32(name)
				if err != nil {
					t.Fatalf("Float32(%q): %v", name, err)
				}
				if len(x.Data) != n || !slices.Equal(x.Shape, info.Shape) {
					t.Fatalf("Float32(%q): %d values, shape %v; info %+v", name, len(x.Data), x.Shape, info)
				}
			case info.DType.IsInt():
				v, shape, err := file.Int64(name)
				if err != nil {
					t.Fatalf("Int64(%q): %v", name, err)
				}
				if len(v) != n || !slices.Equal(shape, info.Shape) {
					t.Fatalf("Int64(%q): %d values, shape %v; info %+v", name, len(v), shape, info)
				}
			default:
				if _, err := file.Float32(name); err == nil {
					t.Fatalf("Float32(%q) of %s succeeded", name, info.DType)
				}
				if _, _, err := file.Int64(name); err == nil {
					t.Fatalf("Int64(%q) of %s succeeded", name, info.DType)
				}
			}
		}
		if err := file.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

type fuzzSeed struct {
	name string
	data []byte
}

// fuzzSeeds returns the seed inputs; testdata/fuzz/FuzzParse holds the same
// inputs in the Go corpus format (regenerate with
// SAFETENSORS_WRITE_CORPUS=1 go test -run TestWriteFuzzCorpus).
func fuzzSeeds() []fuzzSeed {
	must := func(entries []Entry, md map[string]string) []byte {
		b, err := Encode(entries, md)
		if err != nil {
			panic(err)
		}
		return b
	}
	raw := func(header string, body int) []byte {
		out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
		out = append(out, header...)
		return append(out, make([]byte, body)...)
	}
	truncated := must([]Entry{{Name: "w", DType: F32, Shape: []int{2, 2}, Float: []float32{1, 2, 3, 4}}}, nil)
	truncated = truncated[:len(truncated)-3]
	hugeHeader := raw(`{}`, 0)
	binary.LittleEndian.PutUint64(hugeHeader, 1<<40)
	return []fuzzSeed{
		{"f32", must([]Entry{{Name: "w", DType: F32, Shape: []int{2, 3}, Float: []float32{1, 2, 3, 4, 5, 6}}}, nil)},
		{"f16_bf16", must([]Entry{
			{Name: "h", DType: F16, Shape: []int{3}, Float: []float32{0.5, -1, 65504}},
			{Name: "b", DType: BF16, Shape: []int{2}, Float: []float32{3.14, -0}},
		}, nil)},
		{"f64_scalar", must([]Entry{{Name: "s", DType: F64, Shape: nil, Float: []float32{2.5}}}, nil)},
		{"ints", must([]Entry{
			{Name: "i64", DType: I64, Shape: []int{2}, Int: []int64{-1, 1 << 40}},
			{Name: "i32", DType: I32, Shape: []int{1, 2}, Int: []int64{-7, 7}},
			{Name: "u8", DType: U8, Shape: []int{3}, Int: []int64{0, 128, 255}},
			{Name: "mask", DType: Bool, Shape: []int{2}, Int: []int64{0, 1}},
		}, nil)},
		{"metadata", must([]Entry{{Name: "x", DType: F32, Shape: []int{1}, Float: []float32{1}}}, map[string]string{"format": "pt", "k": "v"})},
		{"other_dtypes", raw(`{"a":{"dtype":"U64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"F8_E4M3","shape":[2,0],"data_offsets":[8,8]}}`, 8)},
		{"truncated", truncated},
		{"lying_offsets", raw(`{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,64]}}`, 16)},
		{"bad_dtype", raw(`{"w":{"dtype":"F31","shape":[4],"data_offsets":[0,16]}}`, 16)},
		{"huge_header_length", hugeHeader},
		{"overflowing_shape", raw(`{"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,16]}}`, 16)},
		{"float_shape", raw(`{"w":{"dtype":"F32","shape":[1e30,-1,1.5],"data_offsets":[0,16]}}`, 16)},
		{"overlap", raw(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, 16)},
		{"bad_metadata", raw(`{"__metadata__":{"a":1}}`, 0)},
	}
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzParse from fuzzSeeds
// when SAFETENSORS_WRITE_CORPUS is set, and otherwise checks the checked-in
// corpus holds every seed.
func TestWriteFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	write := os.Getenv("SAFETENSORS_WRITE_CORPUS") != ""
	for _, s := range fuzzSeeds() {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.data)
		path := filepath.Join(dir, "seed_"+s.name)
		if write {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Errorf("%s is missing or stale (regenerate with SAFETENSORS_WRITE_CORPUS=1): %v", path, err)
		}
	}
}
