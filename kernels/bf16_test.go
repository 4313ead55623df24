package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestGemmBF16MatchesGemm checks that GemmBF16 gives exactly Gemm's result
// on the widened B, for every transpose and with a padded ldb.
func TestGemmBF16MatchesGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		for _, sz := range [][3]int{{3, 5, 7}, {70, 90, 110}} {
			m, n, k := sz[0], sz[1], sz[2]
			lda := k
			if tr[0] {
				lda = m
			}
			br, bc := k, n
			if tr[1] {
				br, bc = n, k
			}
			ldb := bc + 3
			a := make([]float32, m*k)
			for i := range a {
				a[i] = rng.Float32()*2 - 1
			}
			b16, b32 := make([]uint16, (br-1)*ldb+bc), make([]float32, (br-1)*ldb+bc)
			for i := range b16 {
				b16[i] = uint16(math.Float32bits(rng.Float32()*2-1) >> 16)
				b32[i] = math.Float32frombits(uint32(b16[i]) << 16)
			}
			want, got := make([]float32, m*n), make([]float32, m*n)
			Gemm(tr[0], tr[1], m, n, k, 0.5, a, lda, b32, ldb, 0, want, n)
			GemmBF16(tr[0], tr[1], m, n, k, 0.5, a, lda, b16, ldb, 0, got, n)
			if !slices.Equal(got, want) {
				t.Errorf("trans %v, %v: GemmBF16 differs from Gemm on the widened B", tr, sz)
			}
		}
	}
}

func TestGemmBF16PanicsOnShortB(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a short B")
		}
	}()
	GemmBF16(false, false, 2, 2, 2, 1, make([]float32, 4), 2, make([]uint16, 3), 2, 0, make([]float32, 4), 2)
}
