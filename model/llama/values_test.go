package llama

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestNonFiniteRotaryFrequencies: a rope_theta or rope_scaling factor that
// is positive but so small that the rotary frequencies overflow is refused,
// naming the field.
func TestNonFiniteRotaryFrequencies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields map[string]any
		want   string
	}{
		{"subnormal rope_theta", map[string]any{"rope_theta": json.RawMessage("5e-324")}, `field "rope_theta" = 5e-324`},
		{"subnormal linear factor", map[string]any{"rope_scaling": map[string]any{"type": "linear", "factor": json.RawMessage("1e-310")}},
			`field "rope_scaling"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.fields)
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			for _, w := range []string{"config.json: ", tc.want, "want finite frequencies"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q", w)
				}
			}
		})
	}
}
