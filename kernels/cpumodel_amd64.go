//go:build amd64

package kernels

// x86Model is the processor's vendor and family as CPUID reports them
// (leaf 0 and leaf 1, the family with its extended part added), or zeros
// where CPUID is not available to the build.
type x86Model struct {
	vendor string // "AuthenticAMD", "GenuineIntel", ...
	family uint32
}

func readX86Model() x86Model {
	maxLeaf, b, c, d := cpuid(0, 0)
	if maxLeaf == 0 {
		return x86Model{}
	}
	v := make([]byte, 0, 12)
	for _, r := range []uint32{b, d, c} {
		v = append(v, byte(r), byte(r>>8), byte(r>>16), byte(r>>24))
	}
	eax, _, _, _ := cpuid(1, 0)
	family := eax >> 8 & 0xf
	if family == 0xf {
		family += eax >> 20 & 0xff
	}
	return x86Model{vendor: string(v), family: family}
}

// amdZen5OrLater reports an AMD processor of family 1Ah or later (Zen 5):
// the first AMD cores to execute 512-bit FMAs at full width.
func (m x86Model) amdZen5OrLater() bool {
	return m.vendor == "AuthenticAMD" && m.family >= 0x1a
}
