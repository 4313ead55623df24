package peft

import (
	"strings"
	"testing"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

func TestTargetMatching(t *testing.T) {
	layer := "model.layers.3.self_attn.q_proj"
	for _, tc := range []struct {
		name    string
		targets Targets
		module  string
		want    bool
	}{
		{"exact name", Targets{TargetModules: Names(layer)}, layer, true},
		{"dotted suffix", Targets{TargetModules: Names("q_proj")}, layer, true},
		{"longer suffix", Targets{TargetModules: Names("self_attn.q_proj")}, layer, true},
		{"partial component is no match", Targets{TargetModules: Names("proj")}, layer, false},
		{"other layer", Targets{TargetModules: Names("v_proj")}, layer, false},
		{"regex must match the whole name", Targets{TargetModules: Pattern(`.*\.q_proj`)}, layer, true},
		{"regex matching a part only", Targets{TargetModules: Pattern(`q_proj`)}, layer, false},
		{"regex alternation", Targets{TargetModules: Pattern(`.*layers\.[0-3]\.self_attn\.(q|v)_proj`)}, layer, true},
		{"excluded by list", Targets{TargetModules: Names("q_proj"), ExcludeModules: Names("layers.3.self_attn.q_proj")}, layer, false},
		{"excluded by regex", Targets{TargetModules: Names("q_proj"), ExcludeModules: Pattern(`.*\.3\..*`)}, layer, false},
		{"exclusion elsewhere", Targets{TargetModules: Names("q_proj"), ExcludeModules: Names("v_proj")}, layer, true},
		{"layer index kept", Targets{TargetModules: Names("q_proj"), LayersToTransform: IntList{Values: []int{1, 3}, IsSet: true}}, layer, true},
		{"layer index dropped", Targets{TargetModules: Names("q_proj"), LayersToTransform: IntList{Values: []int{0}, IsSet: true}}, layer, false},
		{"single layer index", Targets{TargetModules: Names("q_proj"), LayersToTransform: IntList{Values: []int{3}, Single: true, IsSet: true}}, layer, true},
		{"layers pattern", Targets{TargetModules: Names("q_proj"), LayersToTransform: IntList{Values: []int{3}, IsSet: true}, LayersPattern: Names("layers")}, layer, true},
		{"layers pattern absent from name", Targets{TargetModules: Names("q_proj"), LayersToTransform: IntList{Values: []int{3}, IsSet: true}, LayersPattern: Names("h")}, layer, false},
		{"gpt2 layer index", Targets{TargetModules: Names("c_attn"), LayersToTransform: IntList{Values: []int{1}, IsSet: true}}, "transformer.h.1.attn.c_attn", true},
		// PEFT applies layer indexes only to suffix matches, not exact names.
		{"exact name ignores layer index", Targets{TargetModules: Names(layer), LayersToTransform: IntList{Values: []int{0}, IsSet: true}}, layer, true},
		{"modules_to_save is never adapted", Targets{TargetModules: Names("lm_head"), ModulesToSave: []string{"lm_head"}}, "lm_head", false},
		{"null targets", Targets{}, layer, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.targets.Match(tc.module)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Match(%q) = %v, want %v", tc.module, got, tc.want)
			}
		})
	}
	bad := Targets{TargetModules: Pattern(`(`)}
	if _, err := bad.Match(layer); err == nil || !strings.Contains(err.Error(), "target_modules") {
		t.Errorf("bad regex: %v", err)
	}
}

func slots(names ...string) []*model.LinearSlot {
	var out []*model.LinearSlot
	for _, n := range names {
		l, _ := nn.NewLinear(n, tensor.New(2, 2), nil, false)
		out = append(out, model.NewSlot(l))
	}
	return out
}

func TestAllLinearAndSelect(t *testing.T) {
	ss := slots("transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_fc",
		"transformer.h.0.mlp.c_proj", "lm_head")
	ss[4].Head = true
	tg := Targets{TargetModules: Pattern("ALL-LINEAR")}
	sel, err := tg.Select(ss)
	if err != nil {
		t.Fatal(err)
	}
	if got := tg.TargetModules.String(); got != `["c_attn" "c_fc" "c_proj"]` {
		t.Errorf("all-linear expanded to %s", got)
	}
	if len(sel) != 4 {
		t.Errorf("all-linear selected %d layers, want the 4 non-head ones", len(sel))
	}
	none := Targets{TargetModules: Names("q_proj")}
	_, err = none.Select(ss)
	if err == nil || !strings.Contains(err.Error(), `"q_proj"`) || !strings.Contains(err.Error(), "c_attn") {
		t.Errorf("no-match error %v should name the targets and the model's layers", err)
	}
}
