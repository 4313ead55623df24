package safetensors

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/tensor"
)

var sampleFloats = []float32{
	0, 1, -1, 0.1, -2.5, 3.14159265, 65504, 1e-3, -1e-5, 6e-8, 1e-40,
	float32(math.Inf(1)), float32(math.Inf(-1)), 123456.789, float32(math.Copysign(0, -1)), 7,
}

func roundF16(v float32) float32 { return tensor.F16ToF32(tensor.F32ToF16(v)) }

func sameFloat(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

func TestRoundTripFloat(t *testing.T) {
	tests := []struct {
		dtype DType
		want  func(float32) float32
	}{
		{F32, func(v float32) float32 { return v }},
		{F64, func(v float32) float32 { return v }},
		{F16, roundF16},
		{BF16, tensor.RoundBF16},
	}
	for _, tc := range tests {
		t.Run(string(tc.dtype), func(t *testing.T) {
			vals := append(slices.Clone(sampleFloats), float32(math.NaN()))
			shape := []int{len(vals)}
			data, err := Encode([]Entry{{Name: "w", DType: tc.dtype, Shape: shape, Float: vals}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse("rt.safetensors", data)
			if err != nil {
				t.Fatal(err)
			}
			info, ok := f.Info("w")
			if !ok || info.DType != tc.dtype || !slices.Equal(info.Shape, shape) || info.Begin != 0 ||
				info.End != int64(len(vals)*tc.dtype.Size()) {
				t.Fatalf("Info = %+v, %v", info, ok)
			}
			got, err := f.Float32("w")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Shape, shape) {
				t.Fatalf("shape %v, want %v", got.Shape, shape)
			}
			for i, v := range vals {
				if w := tc.want(v); !sameFloat(got.Data[i], w) {
					t.Errorf("element %d: got %v, want %v (from %v)", i, got.Data[i], w, v)
				}
			}
			if _, _, err := f.Int64("w"); err == nil || !strings.Contains(err.Error(), `"w"`) ||
				!strings.Contains(err.Error(), string(tc.dtype)) {
				t.Errorf("Int64 on %s: err = %v", tc.dtype, err)
			}
		})
	}
}

func TestRoundTripInt(t *testing.T) {
	tests := []struct {
		dtype DType
		vals  []int64
	}{
		{I64, []int64{0, 1, -1, math.MaxInt64, math.MinInt64, 42}},
		{I32, []int64{0, 1, -1, math.MaxInt32, math.MinInt32, 42}},
		{I16, []int64{0, -32768, 32767, 5}},
		{I8, []int64{0, -128, 127, 5}},
		{U32, []int64{0, math.MaxUint32, 5}},
		{U16, []int64{0, 65535, 5}},
		{U8, []int64{0, 255, 5}},
		{Bool, []int64{0, 1, 1, 0}},
	}
	for _, tc := range tests {
		t.Run(string(tc.dtype), func(t *testing.T) {
			shape := []int{1, len(tc.vals)}
			data, err := Encode([]Entry{{Name: "ids", DType: tc.dtype, Shape: shape, Int: tc.vals}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse("rt.safetensors", data)
			if err != nil {
				t.Fatal(err)
			}
			got, gotShape, err := f.Int64("ids")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.vals) || !slices.Equal(gotShape, shape) {
				t.Errorf("got %v %v, want %v %v", got, gotShape, tc.vals, shape)
			}
			if _, err := f.Float32("ids"); err == nil || !strings.Contains(err.Error(), `"ids"`) ||
				!strings.Contains(err.Error(), string(tc.dtype)) {
				t.Errorf("Float32 on %s: err = %v", tc.dtype, err)
			}
		})
	}
}

func TestWriteOpenMetadata(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	md := map[string]string{"format": "pt", "note": "héllo \"quoted\""}
	entries := []Entry{
		{Name: "z.last", DType: F32, Shape: []int{2, 3}, Float: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "a.first", DType: BF16, Shape: []int{3}, Float: []float32{0.5, -1, 2}},
		{Name: "scalar", DType: F32, Shape: nil, Float: []float32{9}},
		{Name: "empty", DType: F16, Shape: []int{0, 4}, Float: nil},
		{Name: "ids", DType: I64, Shape: []int{2}, Int: []int64{7, -7}},
	}
	if err := Write(path, entries, md); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Path() != path {
		t.Errorf("Path = %q", f.Path())
	}
	if got := f.Metadata(); len(got) != 2 || got["format"] != "pt" || got["note"] != md["note"] {
		t.Errorf("Metadata = %v", got)
	}
	want := []string{"a.first", "empty", "ids", "scalar", "z.last"}
	if got := f.Names(); !slices.Equal(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
	// Sorted layout: offsets increase with name.
	var prevEnd int64
	for _, n := range want {
		info, _ := f.Info(n)
		if info.Begin != prevEnd {
			t.Errorf("%s begins at %d, want %d", n, info.Begin, prevEnd)
		}
		prevEnd = info.End
	}
	// Data section starts at a multiple of 8.
	raw, _ := os.ReadFile(path)
	if n := le.Uint64(raw); (8+n)%8 != 0 || !strings.HasSuffix(strings.TrimRight(string(raw[8:8+n]), " "), "}") {
		t.Errorf("header length %d leaves data unaligned or badly padded", n)
	}
	s, err := f.Float32("scalar")
	if err != nil || len(s.Shape) != 0 || len(s.Data) != 1 || s.Data[0] != 9 {
		t.Errorf("scalar = %v, %v", s, err)
	}
	e, err := f.Float32("empty")
	if err != nil || !slices.Equal(e.Shape, []int{0, 4}) || len(e.Data) != 0 {
		t.Errorf("empty = %v, %v", e, err)
	}
	z, err := f.Float32("z.last")
	if err != nil || !slices.Equal(z.Data, []float32{1, 2, 3, 4, 5, 6}) {
		t.Errorf("z.last = %v, %v", z, err)
	}
	if _, err := f.Float32("nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), path) ||
		!strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing tensor: err = %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// Tensors read before Close stay valid; reads after Close fail cleanly.
	if z.Data[5] != 6 {
		t.Errorf("tensor changed after Close")
	}
	if _, err := f.Float32("z.last"); !errors.Is(err, ErrClosed) {
		t.Errorf("Float32 after Close: err = %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNoMetadataOmitted(t *testing.T) {
	data, err := Encode([]Entry{{Name: "x", DType: F32, Shape: []int{1}, Float: []float32{1}}}, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), metadataKey) {
		t.Errorf("empty metadata written: %q", data)
	}
	f, err := Parse("x", data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata() != nil {
		t.Errorf("Metadata = %v, want nil", f.Metadata())
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
		want    string
	}{
		{"empty name", []Entry{{Name: "", DType: F32, Shape: []int{1}, Float: []float32{1}}}, "empty name"},
		{"duplicate", []Entry{
			{Name: "a", DType: F32, Shape: []int{1}, Float: []float32{1}},
			{Name: "a", DType: F32, Shape: []int{1}, Float: []float32{2}},
		}, `duplicate entry "a"`},
		{"reserved", []Entry{{Name: metadataKey, DType: F32, Shape: []int{1}, Float: []float32{1}}}, "reserved"},
		{"float length", []Entry{{Name: "a", DType: F32, Shape: []int{2, 2}, Float: []float32{1}}}, `entry "a": shape [2 2] holds 4 elements, Float has 1`},
		{"int length", []Entry{{Name: "a", DType: I64, Shape: []int{3}, Int: []int64{1}}}, `entry "a": shape [3] holds 3 elements, Int has 1`},
		{"unsupported dtype", []Entry{{Name: "a", DType: U64, Shape: []int{1}, Int: []int64{1}}}, `entry "a": unsupported dtype "U64"`},
		{"unknown dtype", []Entry{{Name: "a", DType: "Q4", Shape: []int{1}, Float: []float32{1}}}, `unsupported dtype "Q4"`},
		{"int for float", []Entry{{Name: "a", DType: F16, Shape: []int{1}, Int: []int64{1}}}, "takes Float data"},
		{"float for int", []Entry{{Name: "a", DType: I32, Shape: []int{1}, Float: []float32{1}}}, "takes Int data"},
		{"int range", []Entry{{Name: "a", DType: I32, Shape: []int{2}, Int: []int64{1, 1 << 40}}}, `Int[1] = 1099511627776 does not fit I32`},
		{"negative dim", []Entry{{Name: "a", DType: F32, Shape: []int{-1}}}, `entry "a"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Encode(tc.entries, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// dirNames lists a directory, including dot files.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteLeavesNothingOnError(t *testing.T) {
	good := []Entry{{Name: "a", DType: F32, Shape: []int{1}, Float: []float32{1}}}
	bad := []Entry{{Name: "a", DType: F32, Shape: []int{2}, Float: []float32{1}}}

	t.Run("missing directory", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "nope", "x.safetensors")
		err := Write(path, good, nil)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("err = %v", err)
		}
		if names := dirNames(t, dir); len(names) != 0 {
			t.Errorf("left behind %v", names)
		}
	})
	t.Run("invalid entry", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "x.safetensors")
		err := Write(path, bad, nil)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"a"`) {
			t.Fatalf("err = %v", err)
		}
		if names := dirNames(t, dir); len(names) != 0 {
			t.Errorf("left behind %v", names)
		}
	})
	t.Run("invalid entry keeps old file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "x.safetensors")
		if err := Write(path, good, nil); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(path)
		if err := Write(path, bad, nil); err == nil {
			t.Fatal("no error")
		}
		after, _ := os.ReadFile(path)
		if string(before) != string(after) {
			t.Error("failed Write changed the existing file")
		}
		if names := dirNames(t, dir); !slices.Equal(names, []string{"x.safetensors"}) {
			t.Errorf("directory holds %v", names)
		}
	})
	t.Run("rename fails", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "x.safetensors")
		// A non-empty directory at path makes the final rename fail.
		if err := os.MkdirAll(filepath.Join(path, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := Write(path, good, nil); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("err = %v", err)
		}
		if names := dirNames(t, dir); !slices.Equal(names, []string{"x.safetensors"}) {
			t.Errorf("directory holds %v", names)
		}
	})
	t.Run("overwrite", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "x.safetensors")
		if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Write(path, good, nil); err != nil {
			t.Fatal(err)
		}
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if names := dirNames(t, dir); !slices.Equal(names, []string{"x.safetensors"}) {
			t.Errorf("directory holds %v", names)
		}
	})
}
