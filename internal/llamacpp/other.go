//go:build !(linux && amd64)

package llamacpp

import (
	"fmt"
	"runtime"
)

// Library is llama.cpp's shared library; only linux/amd64 builds of the
// pinned package are supported.
type Library struct{}

// Model is a model loaded by llama.cpp.
type Model struct{}

// Open fails: the pinned package ships linux/amd64 libraries only.
func Open(dir string) (*Library, error) {
	return nil, fmt.Errorf("llamacpp: %s ships linux/amd64 libraries; this is %s/%s", PinnedPackage, runtime.GOOS, runtime.GOARCH)
}
