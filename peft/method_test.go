package peft_test

import (
	"strings"
	"testing"

	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/lora"
	"github.com/orthotune/orthotune/peft/oft"
)

// TestRegistry: OFT and LoRA register by name and peft_type, their
// settings come from their configs' tags with PEFT's names, and a new
// training run's config applies orthotune's own defaults.
func TestRegistry(t *testing.T) {
	if got := strings.Join(peft.MethodNames(), ","); got != "lora,oft" {
		t.Fatalf("methods %s", got)
	}
	for _, tc := range []struct {
		method, peftType string
		flags            []string // every setting's flag, in declaration order
		keys             []string // their PEFT names
	}{
		{"oft", "OFT", []string{"oft-r", "oft-block-size", "module-dropout", "coft", "eps", "block-share", "use-cayley-neumann", "num-cayley-neumann-terms"},
			[]string{"r", "oft_block_size", "module_dropout", "coft", "eps", "block_share", "use_cayley_neumann", "num_cayley_neumann_terms"}},
		{"lora", "LORA", []string{"lora-r", "lora-alpha", "lora-dropout", "use-rslora"}, []string{"r", "lora_alpha", "lora_dropout", "use_rslora"}},
	} {
		m, ok := peft.LookupMethod(tc.method)
		if !ok || m.PeftType != tc.peftType {
			t.Fatalf("%s: %v %+v", tc.method, ok, m)
		}
		var flags, keys []string
		for _, s := range peft.Settings(m.TrainingConfig()) {
			flags, keys = append(flags, s.Flag), append(keys, s.Key)
			if s.Help == "" {
				t.Errorf("%s: %s has no help", tc.method, s.Flag)
			}
		}
		if strings.Join(flags, " ") != strings.Join(tc.flags, " ") || strings.Join(keys, " ") != strings.Join(tc.keys, " ") {
			t.Errorf("%s: flags %v keys %v", tc.method, flags, keys)
		}
		if got, ok := peft.MethodOf(m.NewConfig(peft.Names("q_proj"))); !ok || got.Name != tc.method {
			t.Errorf("%s: MethodOf %v %v", tc.method, got.Name, ok)
		}
	}
	m, _ := peft.LookupMethod("lora")
	if a := m.TrainingConfig().(*lora.Config).LoraAlpha; a != 16 {
		t.Errorf("a new run's lora_alpha %g, want orthotune's 16", a)
	}
	if a := m.NewConfig(peft.Names("q_proj")).(*lora.Config).LoraAlpha; a != 8 {
		t.Errorf("NewConfig's lora_alpha %g, want PEFT's 8", a)
	}
}

// TestSettingsWriteThrough: setting by name writes the config's field,
// bad text names the PEFT key, and OFT's r takes precedence over the block
// size once resolved.
func TestSettingsWriteThrough(t *testing.T) {
	c := oft.NewConfig(peft.Names("q_proj"))
	set := func(flag, text string) error {
		for _, s := range peft.Settings(c) {
			if s.Flag == flag {
				return s.Set(text)
			}
		}
		t.Fatalf("no setting %s", flag)
		return nil
	}
	for _, kv := range [][2]string{{"oft-r", "4"}, {"coft", "true"}, {"eps", "1e-3"}, {"use-cayley-neumann", "false"}} {
		if err := set(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	c.Resolve()
	if c.R != 4 || c.BlockSize != 0 || !c.COFT || c.Eps != 1e-3 || c.UseCayleyNeumann {
		t.Errorf("config after settings: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	if err := set("oft-block-size", "many"); err == nil || !strings.Contains(err.Error(), "oft_block_size") {
		t.Errorf("bad integer: %v", err)
	}
	v := peft.SettingValues(c)
	if v["oft_r"] != 4 || v["use_cayley_neumann"] != false || len(v) != 8 {
		t.Errorf("SettingValues %v", v)
	}
}

func TestParseTargets(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want peft.ModuleList
	}{
		{"", peft.ModuleList{}},
		{"all-linear", peft.Pattern("all-linear")},
		{"q_proj, v_proj", peft.Names("q_proj", "v_proj")},
		{`.*\.(q|v)_proj`, peft.Pattern(`.*\.(q|v)_proj`)},
	} {
		got := peft.ParseTargets(tc.in)
		if got.String() != tc.want.String() || got.IsSet != tc.want.IsSet {
			t.Errorf("%q: %v, want %v", tc.in, got, tc.want)
		}
		if back := peft.ParseTargets(peft.FormatTargets(got)); back.String() != got.String() {
			t.Errorf("%q: FormatTargets does not round-trip: %v", tc.in, back)
		}
	}
	if l, err := peft.DefaultTargets("gpt2"); err != nil || l.String() != `["c_attn"]` {
		t.Errorf("gpt2 default %v %v", l, err)
	}
	if _, err := peft.DefaultTargets("bert"); err == nil || !strings.Contains(err.Error(), "bert") {
		t.Errorf("unknown model_type: %v", err)
	}
}
