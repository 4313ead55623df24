//go:build !((amd64 || arm64) && !purego)

package kernels

import (
	"errors"
	"runtime"
)

// asmKernelWhy is never called here: there is no assembly kernel.
func asmKernelWhy() string { return "" }

func asmBackendFor(isa string) (backend, error) {
	_, err := asmBackend()
	return backend{}, err
}

func asmBackend() (backend, error) {
	if runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" {
		return backend{}, errors.New("not built in: a purego build has no assembly")
	}
	return backend{}, errors.New("no assembly micro-kernels for " + runtime.GOARCH + " (amd64 and arm64 have them)")
}
