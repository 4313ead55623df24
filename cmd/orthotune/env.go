package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/cpu"

	"github.com/orthotune/orthotune/kernels"
)

const envSynopsis = "env [--json] [--peak]\n\n" +
	"Describes what orthotune will compute with on this machine: CPU, cores and threads, and every GEMM\n" +
	"backend (system BLAS, assembly micro-kernels, SIMD kernel, portable Go) with whether it loads,\n" +
	"which one is in use and why (ORTHOTUNE_GEMM=blas|asm|simd|go forces one, asm:avx512|avx2|neon\n" +
	"one assembly kernel). --peak also measures the CPU's float32 FMA throughput (AVX-512, AVX2 with FMA,\n" +
	"or NEON loops in Go assembly, in every build), the ceiling bench's MFU is quoted against."

// envReport is what env prints.
type envReport struct {
	GoVersion   string             `json:"go_version"`
	OS          string             `json:"os"`
	Arch        string             `json:"arch"`
	CPU         string             `json:"cpu"`
	CPUFeatures []string           `json:"cpu_features"`
	Cores       int                `json:"cores"`
	Threads     int                `json:"threads"`
	Gemm        string             `json:"gemm"`
	GemmReason  string             `json:"gemm_reason"` // forced, or the first available and why not the others
	GemmEnv     string             `json:"gemm_env,omitempty"`
	Backends    []kernels.Backend  `json:"backends"`
	PeakGFLOPS  map[string]float64 `json:"peak_gflops,omitempty"` // threads → measured GFLOP/s
	PeakError   string             `json:"peak_error,omitempty"`
}

func runEnv(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("env")
	asJSON := fs.Bool("json", false, "print one JSON object")
	peak := fs.Bool("peak", false, "measure the float32 FMA peak at 1 thread and at --threads")
	if _, err := parseFlags(fs, envSynopsis, args, 0, 0, stdout, stderr); err != nil {
		return err
	}
	r := envReport{GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPU: cpuModel(),
		CPUFeatures: cpuFeatures(), Cores: runtime.NumCPU(), Threads: kernels.Threads(),
		Gemm: kernels.GemmKernel(), GemmReason: kernels.GemmKernelReason(), GemmEnv: os.Getenv(kernels.GemmEnv), Backends: kernels.GemmBackends()}
	if *peak {
		r.PeakGFLOPS = map[string]float64{}
		for _, t := range uniqueInts(1, kernels.Threads()) {
			g, err := kernels.PeakGFLOPS(t)
			if err != nil {
				r.PeakError = err.Error()
				break
			}
			r.PeakGFLOPS[fmt.Sprint(t)] = g
		}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	fmt.Fprintf(stdout, "go        %s %s/%s\n", r.GoVersion, r.OS, r.Arch)
	fmt.Fprintf(stdout, "cpu       %s\n", r.CPU)
	if len(r.CPUFeatures) > 0 {
		fmt.Fprintf(stdout, "features  %s\n", strings.Join(r.CPUFeatures, " "))
	}
	fmt.Fprintf(stdout, "cores     %d (threads used: %d)\n", r.Cores, r.Threads)
	fmt.Fprintf(stdout, "gemm      %s", r.Gemm)
	if r.GemmEnv != "" {
		fmt.Fprintf(stdout, "   (%s=%s)", kernels.GemmEnv, r.GemmEnv)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "  why     %s\n", r.GemmReason)
	for _, b := range r.Backends {
		mark := " "
		if b.Selected {
			mark = "*"
		}
		state := b.Detail
		if !b.Available {
			state = "unavailable: " + b.Reason
		}
		fmt.Fprintf(stdout, "  %s %-5s %s\n", mark, b.Name, state)
	}
	for _, t := range uniqueInts(1, kernels.Threads()) {
		if g, ok := r.PeakGFLOPS[fmt.Sprint(t)]; ok {
			fmt.Fprintf(stdout, "peak      %.1f GFLOP/s float32 FMA on %d thread(s), measured\n", g, t)
		}
	}
	if r.PeakError != "" {
		fmt.Fprintf(stdout, "peak      not measured: %s\n", r.PeakError)
	}
	return nil
}

func uniqueInts(a, b int) []int {
	if a == b {
		return []int{a}
	}
	return []int{a, b}
}

// cpuModel returns the CPU's name where the OS tells it (Linux's
// /proc/cpuinfo), else the architecture.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// cpuFeatures lists the vector extensions the kernels care about.
func cpuFeatures() []string {
	var out []string
	switch runtime.GOARCH {
	case "amd64", "386":
		for _, f := range []struct {
			name string
			on   bool
		}{{"sse4.2", cpu.X86.HasSSE42}, {"avx", cpu.X86.HasAVX}, {"avx2", cpu.X86.HasAVX2}, {"fma", cpu.X86.HasFMA},
			{"avx512f", cpu.X86.HasAVX512F}, {"avx512bw", cpu.X86.HasAVX512BW}, {"avx512vl", cpu.X86.HasAVX512VL},
			{"avx512bf16", cpu.X86.HasAVX512BF16}} {
			if f.on {
				out = append(out, f.name)
			}
		}
	case "arm64":
		for _, f := range []struct {
			name string
			on   bool
		}{{"asimd", cpu.ARM64.HasASIMD}, {"fphp", cpu.ARM64.HasFPHP}, {"sve", cpu.ARM64.HasSVE}} {
			if f.on {
				out = append(out, f.name)
			}
		}
	}
	return out
}
