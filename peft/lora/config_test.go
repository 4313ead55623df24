package lora

import (
	"strings"
	"testing"

	"github.com/orthotune/orthotune/peft"
)

// TestRepeatedPatternKey: a key repeated in rank_pattern keeps its place
// and takes the last value, as the dict PEFT reads does, so the rank used
// and the rank written agree.
func TestRepeatedPatternKey(t *testing.T) {
	data := `{"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"], "rank_pattern": {"q_proj": 2, "v_proj": 4, "q_proj": 6}}`
	cfg, _, err := Parse("adapter_config.json", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.(*Config)
	if r, _ := c.RankAlpha("model.layers.0.self_attn.q_proj"); r != 6 {
		t.Errorf("rank %d, want the last value 6", r)
	}
	if len(c.RankPattern.Entries) != 2 || c.RankPattern.Entries[0].Key != "q_proj" {
		t.Errorf("entries %v", c.RankPattern.Entries)
	}
	out, err := peft.EncodeConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"q_proj": 6`) {
		t.Errorf("written rank_pattern differs from the one used:\n%s", out)
	}
}
