//go:build amd64 && !purego

package kernels

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestReadX86Model holds CPUID's vendor and family against what Linux
// reports in /proc/cpuinfo.
func TestReadX86Model(t *testing.T) {
	got := readX86Model()
	if got.vendor == "" || got.family == 0 {
		t.Fatalf("readX86Model() = %+v, want a vendor and a family", got)
	}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		t.Logf("no /proc/cpuinfo to compare with (%v); CPUID says %+v", err, got)
		return
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() && (want["vendor_id"] == "" || want["cpu family"] == "") {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			want[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if v := want["vendor_id"]; v != "" && v != got.vendor {
		t.Errorf("vendor %q, /proc/cpuinfo says %q", got.vendor, v)
	}
	if v := want["cpu family"]; v != "" {
		if fam, err := strconv.Atoi(v); err == nil && uint32(fam) != got.family {
			t.Errorf("family %d, /proc/cpuinfo says %d", got.family, fam)
		}
	}
}
