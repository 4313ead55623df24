//go:build unix

package safetensors

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Open memory-maps the safetensors file at path read-only and parses and
// validates its header. The mapping is released by Close; tensors returned
// by Float32 and Int64 are copies and outlive it. As with any mapping, the
// file must not be truncated while open.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	size := st.Size()
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("safetensors: %s: not a regular file", path)
	}
	if size < 8 {
		// Too short to map usefully (and mmap rejects length 0); let
		// Parse report it.
		buf := make([]byte, size)
		if _, err := fd.ReadAt(buf, 0); err != nil && size > 0 {
			return nil, fmt.Errorf("safetensors: %s: %w", path, err)
		}
		return Parse(path, buf)
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("safetensors: %s: file of %d bytes is too large to map", path, size)
	}
	data, err := unix.Mmap(int(fd.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: mmap: %w", path, err)
	}
	f, err := Parse(path, data)
	if err != nil {
		unix.Munmap(data)
		return nil, err
	}
	f.unmap = func() error { return unix.Munmap(data) }
	return f, nil
}
