// Package llamacpptest opens llama.cpp's library for tests, the house way:
// it skips with a how-to when ORTHOTUNE_LLAMA_CPP_LIB is unset, and fails
// instead where ORTHOTUNE_REQUIRE_LLAMA_CPP is set (as .ci/run sets it), so
// that CI cannot go green by skipping.
package llamacpptest

import (
	"fmt"
	"os"
	"testing"

	"github.com/orthotune/orthotune/internal/llamacpp"
)

// Environment variables: the bins/linux-x64 directory of the pinned npm
// package, and whether tests must have it.
const (
	LibEnv     = "ORTHOTUNE_LLAMA_CPP_LIB"
	RequireEnv = "ORTHOTUNE_REQUIRE_LLAMA_CPP"
)

// Library returns the library LibEnv names, opened. It skips t when LibEnv
// is unset, and fails t when RequireEnv is set and the library cannot be
// had, or whenever LibEnv is set and the library does not load.
func Library(t testing.TB) *llamacpp.Library {
	t.Helper()
	dir := os.Getenv(LibEnv)
	if dir == "" {
		msg := fmt.Sprintf("llama.cpp's library is not installed; to run this test, npm install --prefix DIR --ignore-scripts %s and set %s=DIR/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64", llamacpp.PinnedPackage, LibEnv)
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("%s is set but %s is not. %s", RequireEnv, LibEnv, msg)
		}
		t.Skip(msg)
	}
	lib, err := llamacpp.Open(dir)
	if err != nil {
		t.Fatalf("%s=%s: %v", LibEnv, dir, err)
	}
	return lib
}
