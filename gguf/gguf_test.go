package gguf

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/orthotune/orthotune/tensor"
)

// allValues is one metadata value of every supported Go type.
var allValues = []KV{
	{"u8", uint8(200)}, {"i8", int8(-100)}, {"u16", uint16(60000)}, {"i16", int16(-30000)},
	{"u32", uint32(4000000000)}, {"i32", int32(-2000000000)}, {"f32", float32(1.5e-6)},
	{"b", true}, {"s", "héllo"}, {"u64", uint64(1) << 60}, {"i64", int64(-1) << 60}, {"f64", math.Pi},
	{"au8", []uint8{1, 2}}, {"ai8", []int8{-1, 2}}, {"au16", []uint16{3}}, {"ai16", []int16{-3}},
	{"au32", []uint32{4, 5}}, {"ai32", []int32{-4, 5}}, {"af32", []float32{0.5, -2}},
	{"ab", []bool{true, false}}, {"as", []string{"a", "", "ü"}}, {"au64", []uint64{6}},
	{"ai64", []int64{-6}}, {"af64", []float64{0.25}}, {"empty", []string{}},
}

func writeFile(t testing.TB, kvs []KV, tensors []TensorInfo, data [][]float32) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, kv := range kvs {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	for _, ti := range tensors {
		dims := make([]int, len(ti.Dims))
		for i, d := range ti.Dims {
			dims[i] = int(d)
		}
		if err := w.AddTensor(ti.Name, ti.Type, dims...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	for _, d := range data {
		if err := w.WriteTensor(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ramp(n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = scale * float32(math.Sin(float64(i)*0.37+0.1))
	}
	return x
}

func TestRoundTrip(t *testing.T) {
	for _, align := range []uint32{0, 64} {
		kvs := append([]KV(nil), allValues...)
		if align != 0 {
			kvs = append(kvs, KV{KeyAlignment, align})
		}
		tensors := []TensorInfo{
			{Name: "a", Dims: []uint64{3}, Type: F32},
			{Name: "b", Dims: []uint64{5, 2}, Type: F16},
			{Name: "c", Dims: []uint64{7, 1, 2}, Type: BF16},
			{Name: "d", Dims: []uint64{64, 3}, Type: Q8_0},
		}
		data := [][]float32{ramp(3, 1), ramp(10, 2), ramp(14, 3), ramp(192, 4)}
		raw := writeFile(t, kvs, tensors, data)
		f, err := Read(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		want := uint64(DefaultAlignment)
		if align != 0 {
			want = uint64(align)
		}
		if f.Alignment != want || uint64(f.DataOffset)%want != 0 {
			t.Errorf("alignment %d, data offset %d; want alignment %d", f.Alignment, f.DataOffset, want)
		}
		if !reflect.DeepEqual(f.KV, kvs) {
			t.Errorf("metadata:\n got %v\nwant %v", f.KV, kvs)
		}
		for i, ti := range tensors {
			got, ok := f.Tensor(ti.Name)
			if !ok || !reflect.DeepEqual(got.Dims, ti.Dims) || got.Type != ti.Type || got.Offset%want != 0 {
				t.Fatalf("tensor %s: %+v", ti.Name, got)
			}
			vals, err := f.Float32(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			for j, v := range vals {
				x := data[i][j]
				var ref float32
				switch ti.Type {
				case F32:
					ref = x
				case F16:
					ref = tensor.F16ToF32(tensor.F32ToF16(x))
				case BF16:
					ref = tensor.RoundBF16(x)
				case Q8_0:
					ref = v // checked by TestQ8_0
				}
				if v != ref {
					t.Fatalf("tensor %s[%d] = %v, want %v", ti.Name, j, v, ref)
				}
			}
		}
	}
}

// TestQ8_0 checks the encoding against ggml's formula and the error bound
// |x − d·q| ≤ d/2 (plus the fp16 rounding of d).
func TestQ8_0(t *testing.T) {
	cases := map[string][]float32{
		"ramp":  ramp(96, 3),
		"zeros": make([]float32, 32),
		"ties":  {0.5, -0.5, 1.5, -1.5, 2.5, 127, -127, 63.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"tiny":  append(ramp(31, 1e-3), 1e4),
	}
	for name, x := range cases {
		b, err := Encode(nil, Q8_0, x)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != len(x)/32*34 {
			t.Fatalf("%s: %d bytes", name, len(b))
		}
		y, err := Decode(nil, Q8_0, b, len(x))
		if err != nil {
			t.Fatal(err)
		}
		for blk := 0; blk < len(x)/32; blk++ {
			var amax float32
			for _, v := range x[blk*32 : blk*32+32] {
				amax = max(amax, float32(math.Abs(float64(v))))
			}
			d := amax / 127
			dh := tensor.F16ToF32(uint16(b[blk*34]) | uint16(b[blk*34+1])<<8)
			if dh != tensor.F16ToF32(tensor.F32ToF16(d)) {
				t.Errorf("%s block %d: scale %v, want fp16(%v)", name, blk, dh, d)
			}
			for i := blk * 32; i < blk*32+32; i++ {
				q := int8(b[blk*34+2+i-blk*32])
				var id float32
				if d != 0 {
					id = 1 / d
				}
				if want := int8(math.Round(float64(x[i] * id))); q != want {
					t.Errorf("%s[%d]: q %d, want %d", name, i, q, want)
				}
				if e := math.Abs(float64(y[i] - x[i])); e > float64(dh)/2+float64(amax)*1e-3 {
					t.Errorf("%s[%d]: %v decodes to %v (error %g > d/2 = %g)", name, i, x[i], y[i], e, dh/2)
				}
			}
		}
	}
	if q := cases["ties"]; true {
		b, _ := Encode(nil, Q8_0, q)
		// d = 127/127 = 1: halves round away from zero.
		if got := []int8{int8(b[2]), int8(b[3]), int8(b[4]), int8(b[5]), int8(b[6])}; !reflect.DeepEqual(got, []int8{1, -1, 2, -2, 3}) {
			t.Errorf("ties round to %v, want [1 -1 2 -2 3]", got)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	cases := []struct {
		name string
		do   func(w *Writer) error
	}{
		{"bad value", func(w *Writer) error { return w.AddKV("k", struct{}{}) }},
		{"int", func(w *Writer) error { return w.AddKV("k", 1) }},
		{"empty key", func(w *Writer) error { return w.AddKV("", uint8(1)) }},
		{"dup key", func(w *Writer) error { w.AddKV("k", uint8(1)); return w.AddKV("k", uint8(2)) }},
		{"bad alignment", func(w *Writer) error { return w.AddKV(KeyAlignment, uint32(24)) }},
		{"alignment type", func(w *Writer) error { return w.AddKV(KeyAlignment, uint64(32)) }},
		{"dup tensor", func(w *Writer) error { w.AddTensor("t", F32, 1); return w.AddTensor("t", F32, 1) }},
		{"no dims", func(w *Writer) error { return w.AddTensor("t", F32) }},
		{"5 dims", func(w *Writer) error { return w.AddTensor("t", F32, 1, 1, 1, 1, 1) }},
		{"zero dim", func(w *Writer) error { return w.AddTensor("t", F32, 0) }},
		{"q8 row", func(w *Writer) error { return w.AddTensor("t", Q8_0, 33) }},
		{"type", func(w *Writer) error { return w.AddTensor("t", TensorType(2), 32) }},
		{"data before header", func(w *Writer) error { w.AddTensor("t", F32, 1); return w.WriteTensor([]float32{1}) }},
		{"wrong length", func(w *Writer) error {
			w.AddTensor("t", F32, 2)
			w.WriteHeader()
			return w.WriteTensor([]float32{1})
		}},
		{"too many", func(w *Writer) error { w.WriteHeader(); return w.WriteTensor([]float32{1}) }},
		{"missing data", func(w *Writer) error { w.AddTensor("t", F32, 1); w.WriteHeader(); return w.Close() }},
		{"kv after header", func(w *Writer) error { w.WriteHeader(); return w.AddKV("k", uint8(1)) }},
	}
	for _, c := range cases {
		if err := c.do(NewWriter(&bytes.Buffer{})); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	boom := errors.New("disk full")
	w := NewWriter(failWriter{boom})
	w.AddKV("big", string(make([]byte, 2<<20)))
	if err := w.WriteHeader(); !errors.Is(err, boom) {
		t.Errorf("write error: %v, want it wrapped", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestReadErrors(t *testing.T) {
	good := writeFile(t, []KV{{"s", "x"}, {"a", []int32{1, 2}}}, []TensorInfo{{Name: "t", Dims: []uint64{32}, Type: Q8_0}}, [][]float32{ramp(32, 1)})
	patch := func(off int, b ...byte) []byte {
		c := append([]byte(nil), good...)
		copy(c[off:], b)
		return c
	}
	// Offsets: magic 0, version 4, tensors 8, kvs 16, first key length 24.
	cases := map[string][]byte{
		"empty":         nil,
		"magic":         patch(0, 'G', 'G', 'U', 'X'),
		"version 2":     patch(4, 2),
		"huge counts":   patch(8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
		"huge string":   patch(24, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0),
		"value type 13": patch(24+8+1, 13),
		"truncated":     good[:len(good)-31], // the last 30 bytes are padding
		"header only":   good[:40],
	}
	for name, raw := range cases {
		_, err := Read(bytes.NewReader(raw), int64(len(raw)))
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v does not wrap ErrFormat", name, err)
		}
	}
}

func TestOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	raw := writeFile(t, []KV{{"general.architecture", "llama"}}, []TensorInfo{{Name: "w", Dims: []uint64{2, 2}, Type: F32}}, [][]float32{{1, 2, 3, 4}})
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v, _ := f.Value("general.architecture"); v != "llama" {
		t.Errorf("architecture %v", v)
	}
	if x, err := f.Float32("w"); err != nil || !reflect.DeepEqual(x, []float32{1, 2, 3, 4}) {
		t.Errorf("w = %v, %v", x, err)
	}
	if _, err := f.Float32("nope"); err == nil {
		t.Error("missing tensor read")
	}
	os.WriteFile(path, []byte("GGUF"), 0o644)
	if _, err := Open(path); err == nil || !bytes.Contains([]byte(err.Error()), []byte(path)) {
		t.Errorf("error %v does not name the file", err)
	}
}

func TestParseTensorType(t *testing.T) {
	for s, want := range map[string]TensorType{"f32": F32, "F16": F16, "bf16": BF16, "q8_0": Q8_0, "Q8_0": Q8_0} {
		if got, err := ParseTensorType(s); err != nil || got != want {
			t.Errorf("%s: %v %v", s, got, err)
		}
	}
	if _, err := ParseTensorType("q4_0"); err == nil {
		t.Error("q4_0 accepted")
	}
}

func FuzzRead(f *testing.F) {
	f.Add(writeFile(f, allValues, []TensorInfo{{Name: "t", Dims: []uint64{32, 2}, Type: Q8_0}, {Name: "u", Dims: []uint64{3}, Type: BF16}}, [][]float32{ramp(64, 1), ramp(3, 1)}))
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		file, err := Read(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			return
		}
		for _, ti := range file.Tensors {
			if _, err := file.Float32(ti.Name); err != nil {
				t.Fatalf("tensor %q accepted by Read but not decodable: %v", ti.Name, err)
			}
		}
	})
}

// TestLargeTensor crosses the writer's chunk and parallel split: the bytes
// must be those of one serial Encode.
func TestLargeTensor(t *testing.T) {
	n := 1<<22 + 3*QK8_0
	x := ramp(n, 5)
	for _, typ := range []TensorType{Q8_0, F16} {
		raw := writeFile(t, nil, []TensorInfo{{Name: "big", Dims: []uint64{uint64(n)}, Type: typ}}, [][]float32{x})
		f, err := Read(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.TensorBytes("big")
		if err != nil {
			t.Fatal(err)
		}
		want, _ := Encode(nil, typ, x)
		if !bytes.Equal(got, want) {
			t.Errorf("%v: the written bytes differ from a serial Encode", typ)
		}
	}
}
