package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/kernels"
)

// TestEnvReportsBackends checks that env names the backend in use, lists
// every backend with a reason for each unavailable one, in text and JSON.
func TestEnvReportsBackends(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads()) // --threads below changes it
	var out, errb bytes.Buffer
	if code := run([]string{"env"}, &out, &errb); code != 0 {
		t.Fatalf("env: exit %d, stderr %s", code, errb.String())
	}
	text := out.String()
	if !strings.Contains(text, "gemm      "+kernels.GemmKernel()) {
		t.Errorf("env does not name the kernel in use (%s):\n%s", kernels.GemmKernel(), text)
	}
	if !strings.Contains(text, "why     "+kernels.GemmKernelReason()) {
		t.Errorf("env does not say why it uses %s:\n%s", kernels.GemmKernel(), text)
	}
	for _, name := range []string{"blas", "asm", "simd", "go"} {
		if !strings.Contains(text, "  "+name+" ") && !strings.Contains(text, " "+name+"  ") {
			t.Errorf("env does not list backend %s:\n%s", name, text)
		}
	}
	out.Reset()
	if code := run([]string{"env", "--json", "--threads", "1"}, &out, &errb); code != 0 {
		t.Fatalf("env --json: exit %d, stderr %s", code, errb.String())
	}
	var r envReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("env --json printed %q: %v", out.String(), err)
	}
	if r.Threads != 1 || r.Cores < 1 || r.Gemm != kernels.GemmKernel() || len(r.Backends) != 4 || r.GemmReason == "" {
		t.Errorf("env --json = %+v", r)
	}
	selected := 0
	for _, b := range r.Backends {
		if b.Selected {
			selected++
		}
		if !b.Available && b.Reason == "" {
			t.Errorf("backend %s unavailable without a reason", b.Name)
		}
	}
	if selected != 1 {
		t.Errorf("%d backends selected, want 1", selected)
	}
}
