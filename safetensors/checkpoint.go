package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/orthotune/orthotune/tensor"
)

// The file names OpenCheckpoint looks for.
const (
	IndexFileName  = "model.safetensors.index.json"
	SingleFileName = "model.safetensors"
)

// Checkpoint is a model checkpoint stored as one safetensors file or as
// several shards listed by an index file. Like File, its methods may be
// called concurrently except Close.
type Checkpoint struct {
	dir    string
	files  []*File          // each shard once
	byName map[string]*File // tensor name -> shard
	names  []string         // sorted
}

// OpenCheckpoint opens the checkpoint in dir. If dir holds
// model.safetensors.index.json, its "weight_map" (tensor name -> shard file
// name, relative to dir) is read, each shard is opened once and every mapped
// tensor must exist in its shard; tensors a shard holds that the index does
// not list are ignored. Otherwise dir/model.safetensors is opened as a
// single-file checkpoint.
func OpenCheckpoint(dir string) (*Checkpoint, error) {
	indexPath := filepath.Join(dir, IndexFileName)
	idx, err := os.ReadFile(indexPath)
	switch {
	case err == nil:
		return openSharded(dir, indexPath, idx)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	single := filepath.Join(dir, SingleFileName)
	if _, err := os.Stat(single); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("safetensors: %s: neither %s nor %s found", dir, IndexFileName, SingleFileName)
		}
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := Open(single)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{dir: dir, files: []*File{f}, byName: make(map[string]*File), names: f.Names()}
	for _, name := range c.names {
		c.byName[name] = f
	}
	return c, nil
}

func openSharded(dir, indexPath string, idx []byte) (_ *Checkpoint, err error) {
	var index struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(idx, &index); err != nil {
		return nil, fmt.Errorf("safetensors: %s: invalid index: %v", indexPath, err)
	}
	if index.WeightMap == nil {
		return nil, fmt.Errorf("safetensors: %s: index has no weight_map", indexPath)
	}
	c := &Checkpoint{dir: dir, byName: make(map[string]*File, len(index.WeightMap))}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	shards := make(map[string]*File)
	for _, name := range sortedKeys(index.WeightMap) {
		shard := index.WeightMap[name]
		if !filepath.IsLocal(shard) {
			return nil, fmt.Errorf("safetensors: %s: tensor %q: shard %q is not a file name inside %s", indexPath, name, shard, dir)
		}
		f, ok := shards[shard]
		if !ok {
			f, err = Open(filepath.Join(dir, shard))
			if err != nil {
				return nil, fmt.Errorf("safetensors: %s: tensor %q: shard %q: %w", indexPath, name, shard, err)
			}
			shards[shard] = f
			c.files = append(c.files, f)
		}
		if _, ok := f.Info(name); !ok {
			return nil, fmt.Errorf("safetensors: %s: tensor %q is mapped to shard %q, which does not hold it", indexPath, name, shard)
		}
		c.byName[name] = f
		c.names = append(c.names, name)
	}
	return c, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Dir returns the checkpoint's directory.
func (c *Checkpoint) Dir() string { return c.dir }

// Names returns the checkpoint's tensor names in sorted order.
func (c *Checkpoint) Names() []string { return slices.Clone(c.names) }

// Info returns the description of the named tensor; offsets are relative to
// the data section of the shard FileOf names.
func (c *Checkpoint) Info(name string) (TensorInfo, bool) {
	f, ok := c.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Info(name)
}

// FileOf returns the path of the file holding the named tensor (dir joined
// with the shard name), or "" if the checkpoint has no such tensor.
func (c *Checkpoint) FileOf(name string) string {
	if f, ok := c.byName[name]; ok {
		return f.Path()
	}
	return ""
}

func (c *Checkpoint) file(name string) (*File, error) {
	f, ok := c.byName[name]
	if !ok {
		return nil, fmt.Errorf("safetensors: checkpoint %s: tensor %q: %w", c.dir, name, ErrNotFound)
	}
	return f, nil
}

// Float32 reads the named tensor as float32 (see File.Float32).
func (c *Checkpoint) Float32(name string) (*tensor.Tensor, error) {
	f, err := c.file(name)
	if err != nil {
		return nil, err
	}
	return f.Float32(name)
}

// Int64 reads the named integer tensor widened to int64 (see File.Int64).
func (c *Checkpoint) Int64(name string) ([]int64, []int, error) {
	f, err := c.file(name)
	if err != nil {
		return nil, nil, err
	}
	return f.Int64(name)
}

// Close closes every shard, returning the first error.
func (c *Checkpoint) Close() error {
	var first error
	for _, f := range c.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
