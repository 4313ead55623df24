package safetensors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzIndex: no model.safetensors.index.json makes the sharded
// checkpoint reader panic; its errors name the index file; and a checkpoint
// it opens lists exactly the weight_map's tensors, each read from a shard
// inside the checkpoint directory that holds it. The index bytes go
// straight to openSharded (what OpenCheckpoint calls with the file it
// reads), over a directory with two shards, a corrupt file and a
// subdirectory, beside a valid file outside it that no index may reach.
func FuzzIndex(f *testing.F) {
	root := f.TempDir()
	dir := filepath.Join(root, "ckpt")
	for _, d := range []string{dir, filepath.Join(dir, "sub")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	write := func(path string, entries []Entry) {
		if err := Write(path, entries, map[string]string{"format": "pt"}); err != nil {
			f.Fatal(err)
		}
	}
	write(filepath.Join(root, SingleFileName), []Entry{{Name: "outside", DType: F32, Shape: []int{1}, Float: []float32{1}}})
	write(filepath.Join(dir, "model-00001-of-00002.safetensors"), []Entry{
		{Name: "embed.weight", DType: F32, Shape: []int{2, 2}, Float: []float32{1, 2, 3, 4}},
		{Name: "layer.0.weight", DType: BF16, Shape: []int{2}, Float: []float32{0.5, -0.25}},
	})
	write(filepath.Join(dir, "model-00002-of-00002.safetensors"), []Entry{
		{Name: "head.weight", DType: F16, Shape: []int{3}, Float: []float32{1, 2, 3}},
		{Name: "position_ids", DType: I64, Shape: []int{1, 3}, Int: []int64{0, 1, 2}},
		{Name: "unlisted", DType: F32, Shape: []int{1}, Float: []float32{9}},
	})
	write(filepath.Join(dir, "sub", "s.safetensors"), []Entry{{Name: "nested", DType: F32, Shape: []int{1}, Float: []float32{5}}})
	if err := os.WriteFile(filepath.Join(dir, "corrupt.safetensors"), []byte("\xff\xff\xff\x00\x00\x00\x00\x00{}"), 0o644); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		goodIndex,
		`{"weight_map": {"nested": "sub/s.safetensors", "embed.weight": "./model-00001-of-00002.safetensors", "head.weight": "sub/../model-00002-of-00002.safetensors"}}`,
		`{"weight_map": {}}`,
		`{"metadata": {"total_size": 0}}`,
		`{"weight_map": {"a": 1}}`,
		`{"weight_map": {"ghost": "model-00001-of-00002.safetensors"}}`,
		`{"weight_map": {"outside": "../model.safetensors"}}`,
		`{"weight_map": {"outside": "/etc/passwd"}}`,
		`{"weight_map": {"a": ""}}`,
		`{"weight_map": {"a": "."}}`,
		`{"weight_map": {"a": "sub"}}`,
		`{"weight_map": {"a": "corrupt.safetensors"}}`,
		`{"weight_map": `,
		`null`,
	} {
		f.Add([]byte(s))
	}
	indexPath := filepath.Join(dir, IndexFileName)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := openSharded(dir, indexPath, data)
		if err != nil {
			if !strings.Contains(err.Error(), indexPath) {
				t.Fatalf("error %q does not name %s", err, indexPath)
			}
			return
		}
		defer func() {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}()
		var index struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(data, &index); err != nil {
			t.Fatalf("openSharded accepted an index encoding/json refuses: %v", err)
		}
		want := make([]string, 0, len(index.WeightMap))
		for name := range index.WeightMap {
			want = append(want, name)
		}
		slices.Sort(want)
		if got := c.Names(); !slices.Equal(got, want) {
			t.Fatalf("Names = %q, want the weight_map's %q", got, want)
		}
		for _, name := range want {
			file := c.FileOf(name)
			if rel, err := filepath.Rel(dir, file); err != nil || !filepath.IsLocal(rel) {
				t.Fatalf("tensor %q is read from %s, outside %s", name, file, dir)
			}
			if filepath.Clean(file) != filepath.Join(dir, index.WeightMap[name]) {
				t.Fatalf("tensor %q is read from %s, the index names %q", name, file, index.WeightMap[name])
			}
			info, ok := c.Info(name)
			if !ok {
				t.Fatalf("Info(%q) missing", name)
			}
			if info.DType.IsFloat() {
				if _, err := c.Float32(name); err != nil {
					t.Fatalf("Float32(%q): %v", name, err)
				}
			} else if _, _, err := c.Int64(name); err != nil {
				t.Fatalf("Int64(%q): %v", name, err)
			}
		}
	})
}
