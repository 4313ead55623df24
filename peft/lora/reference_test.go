package lora_test

import (
	"testing"

	"github.com/orthotune/orthotune/internal/peftcheck"
	_ "github.com/orthotune/orthotune/peft/lora"
)

// TestReferenceLayers: output, gradients of x, A and B, merged weight and
// unmerge of the three LoRA reference cases, within cases.json tolerances.
func TestReferenceLayers(t *testing.T) {
	for _, name := range []string{"lora", "lora_rslora", "lora_conv1d"} {
		t.Run(name, func(t *testing.T) { peftcheck.Run(t, name) })
	}
}
