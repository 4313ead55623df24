package train

import (
	"math"
	"strings"
	"testing"
)

// TestEvaluateRefusesNonFiniteLoss: a model whose outputs are not finite
// (a NaN weight) makes Evaluate fail with a message saying so, instead of
// reporting a loss of NaN.
func TestEvaluateRefusesNonFiniteLoss(t *testing.T) {
	f := newFixture(t, "llama")
	m := f.modelFn()
	if _, err := Evaluate(m, batches(f.eval, 4)); err != nil {
		t.Fatalf("a finite model: %v", err)
	}
	m.Params()[0].W.Data[0] = float32(math.NaN())
	_, err := Evaluate(m, batches(f.eval, 4))
	if err == nil || !strings.Contains(err.Error(), "not finite") {
		t.Fatalf("err %v; want the non-finite loss refused", err)
	}
}
