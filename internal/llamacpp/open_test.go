//go:build linux && amd64

package llamacpp_test

import (
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/llamacpp/llamacpptest"
)

// TestOpen loads the library and asks it about itself: the checks of the
// struct layouts run inside Open.
func TestOpen(t *testing.T) {
	lib := llamacpptest.Library(t)
	t.Logf("llama.cpp %s from %s; %d device(s); system info: %s", lib.Version(), lib.Dir(), lib.Devices(), lib.SystemInfo())
	if !strings.HasPrefix(lib.Version(), "0.4.0") {
		t.Errorf("llama_version = %q, want the pinned build's 0.4.0", lib.Version())
	}
	if lib.Devices() < 1 {
		t.Errorf("%d ggml devices, want the CPU at least", lib.Devices())
	}
	if n := lib.MaxDevices(); n < 1 {
		t.Errorf("llama_max_devices = %d", n)
	}
	if info := lib.SystemInfo(); !strings.Contains(info, "CPU") {
		t.Errorf("llama_print_system_info = %q, want the CPU backend's features", info)
	}
}
