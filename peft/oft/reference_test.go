package oft_test

import (
	"testing"

	"github.com/orthotune/orthotune/internal/peftcheck"
	_ "github.com/orthotune/orthotune/peft/oft"
)

// TestReferenceLayers: output, gradients of x and oft_R.weight, merged
// weight and exact unmerge of all nine OFT reference cases (exact Cayley,
// Neumann with 5 and 3 terms, r instead of a block size, block sharing,
// block-size adjustment, COFT, COFT with some blocks inside the ball, and
// GPT-2's Conv1D), within cases.json tolerances.
func TestReferenceLayers(t *testing.T) {
	for _, name := range []string{"oft_cayley", "oft_neumann", "oft_neumann_k3", "oft_r4", "oft_block_share",
		"oft_block_adjust", "oft_coft", "oft_coft_mixed", "oft_conv1d"} {
		t.Run(name, func(t *testing.T) { peftcheck.Run(t, name) })
	}
}
