//go:build amd64 && purego

package kernels

// cpuid reports nothing in a purego build, which has no assembly: callers
// then take their defaults.
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32) { return 0, 0, 0, 0 }
