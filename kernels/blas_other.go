//go:build !(linux || darwin || freebsd)

package kernels

import (
	"errors"
	"runtime"
)

func blasBackend() (backend, error) {
	return backend{}, errors.New("no system BLAS loader on " + runtime.GOOS)
}
