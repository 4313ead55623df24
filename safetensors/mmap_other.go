//go:build !unix

package safetensors

import (
	"fmt"
	"os"
)

// Open reads the safetensors file at path into memory and parses and
// validates its header. (On unix systems Open memory-maps the file instead.)
func Open(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return Parse(path, data)
}
