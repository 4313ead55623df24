package safetensors

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path string, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeShards writes two shards into dir and returns their entries.
func writeShards(t *testing.T, dir string) {
	t.Helper()
	shard1 := []Entry{
		{Name: "embed.weight", DType: F32, Shape: []int{2, 2}, Float: []float32{1, 2, 3, 4}},
		{Name: "layer.0.weight", DType: BF16, Shape: []int{2}, Float: []float32{0.5, -0.25}},
	}
	shard2 := []Entry{
		{Name: "head.weight", DType: F16, Shape: []int{3}, Float: []float32{1, 2, 3}},
		{Name: "position_ids", DType: I64, Shape: []int{1, 3}, Int: []int64{0, 1, 2}},
		{Name: "unlisted", DType: F32, Shape: []int{1}, Float: []float32{9}},
	}
	if err := Write(filepath.Join(dir, "model-00001-of-00002.safetensors"), shard1, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "model-00002-of-00002.safetensors"), shard2, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
}

const goodIndex = `{
  "metadata": {"total_size": 1234},
  "weight_map": {
    "embed.weight": "model-00001-of-00002.safetensors",
    "layer.0.weight": "model-00001-of-00002.safetensors",
    "head.weight": "model-00002-of-00002.safetensors",
    "position_ids": "model-00002-of-00002.safetensors"
  }
}`

func TestShardedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	writeShards(t, dir)
	writeFile(t, filepath.Join(dir, IndexFileName), goodIndex)
	c, err := OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := []string{"embed.weight", "head.weight", "layer.0.weight", "position_ids"}
	if got := c.Names(); !slices.Equal(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
	if got := c.FileOf("head.weight"); got != filepath.Join(dir, "model-00002-of-00002.safetensors") {
		t.Errorf("FileOf(head.weight) = %q", got)
	}
	if got := c.FileOf("unlisted"); got != "" {
		t.Errorf("FileOf(unlisted) = %q", got)
	}
	if info, ok := c.Info("layer.0.weight"); !ok || info.DType != BF16 || !slices.Equal(info.Shape, []int{2}) {
		t.Errorf("Info = %+v, %v", info, ok)
	}
	e, err := c.Float32("embed.weight")
	if err != nil || !slices.Equal(e.Data, []float32{1, 2, 3, 4}) || !slices.Equal(e.Shape, []int{2, 2}) {
		t.Errorf("embed.weight = %v, %v", e, err)
	}
	h, err := c.Float32("head.weight")
	if err != nil || !slices.Equal(h.Data, []float32{1, 2, 3}) {
		t.Errorf("head.weight = %v, %v", h, err)
	}
	ids, shape, err := c.Int64("position_ids")
	if err != nil || !slices.Equal(ids, []int64{0, 1, 2}) || !slices.Equal(shape, []int{1, 3}) {
		t.Errorf("position_ids = %v %v, %v", ids, shape, err)
	}
	if _, err := c.Float32("unlisted"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), dir) {
		t.Errorf("unlisted: err = %v", err)
	}
	if len(c.files) != 2 {
		t.Errorf("opened %d shard files, want 2", len(c.files))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Float32("embed.weight"); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: err = %v", err)
	}
}

func TestSingleFileCheckpoint(t *testing.T) {
	dir := t.TempDir()
	entries := []Entry{
		{Name: "b", DType: F32, Shape: []int{1}, Float: []float32{2}},
		{Name: "a", DType: F32, Shape: []int{1}, Float: []float32{1}},
	}
	if err := Write(filepath.Join(dir, SingleFileName), entries, nil); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Names(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Names = %v", got)
	}
	if got := c.FileOf("a"); got != filepath.Join(dir, SingleFileName) {
		t.Errorf("FileOf = %q", got)
	}
	if b, err := c.Float32("b"); err != nil || b.Data[0] != 2 {
		t.Errorf("b = %v, %v", b, err)
	}
}

func TestCheckpointErrors(t *testing.T) {
	tests := []struct {
		name  string
		index string // "" means no index file
		want  []string
	}{
		{"nothing found", "", []string{"neither " + IndexFileName + " nor " + SingleFileName + " found"}},
		{"index not JSON", `{"weight_map": `, []string{IndexFileName, "invalid index"}},
		{"no weight_map", `{"metadata": {}}`, []string{IndexFileName, "no weight_map"}},
		{"weight_map not strings", `{"weight_map": {"a": 1}}`, []string{IndexFileName, "invalid index"}},
		{"tensor missing from shard", `{"weight_map": {"ghost": "model-00001-of-00002.safetensors"}}`,
			[]string{IndexFileName, `tensor "ghost"`, `shard "model-00001-of-00002.safetensors"`, "does not hold it"}},
		{"tensor in wrong shard", `{"weight_map": {"head.weight": "model-00001-of-00002.safetensors"}}`,
			[]string{IndexFileName, `tensor "head.weight"`, `shard "model-00001-of-00002.safetensors"`}},
		{"missing shard", `{"weight_map": {"a": "model-00009.safetensors"}}`,
			[]string{IndexFileName, `tensor "a"`, `shard "model-00009.safetensors"`, "no such file"}},
		{"escaping shard", `{"weight_map": {"a": "../model.safetensors"}}`,
			[]string{IndexFileName, `tensor "a"`, `shard "../model.safetensors" is not a file name inside`}},
		{"absolute shard", `{"weight_map": {"a": "/etc/passwd"}}`,
			[]string{IndexFileName, `tensor "a"`, `shard "/etc/passwd" is not a file name inside`}},
		{"empty shard", `{"weight_map": {"a": ""}}`, []string{IndexFileName, `tensor "a"`, `shard ""`}},
		{"corrupt shard", `{"weight_map": {"a": "corrupt.safetensors"}}`,
			[]string{IndexFileName, `tensor "a"`, "corrupt.safetensors", "header length"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "ckpt")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			// A valid file just outside dir, which "../" must not reach.
			if err := Write(filepath.Join(root, SingleFileName), []Entry{{Name: "a", DType: F32, Shape: []int{1}, Float: []float32{1}}}, nil); err != nil {
				t.Fatal(err)
			}
			writeShards(t, dir)
			writeFile(t, filepath.Join(dir, "corrupt.safetensors"), "\xff\xff\xff\x00\x00\x00\x00\x00{}")
			if tc.index != "" {
				writeFile(t, filepath.Join(dir, IndexFileName), tc.index)
			}
			c, err := OpenCheckpoint(dir)
			if err == nil {
				c.Close()
				t.Fatal("OpenCheckpoint succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, dir) {
				t.Errorf("error %q does not name %s", msg, dir)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}
