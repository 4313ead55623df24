//go:build !(goexperiment.simd && amd64)

package kernels

import "errors"

func simdBackend() (backend, error) {
	return backend{}, errors.New("not built in: build with GOEXPERIMENT=simd on amd64")
}
