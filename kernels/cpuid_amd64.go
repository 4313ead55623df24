//go:build amd64 && !purego

package kernels

// cpuid executes the CPUID instruction for leaf and subleaf sub.
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
