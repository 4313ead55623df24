package study

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

// Size is the size a study chose for one method: the settings it sets and
// the trainable-parameter count they give on the model.
type Size struct {
	Method string `json:"method"`
	// Setting is the size as PEFT names it, e.g. "oft_block_size=32",
	// "r=8"; "" for full fine-tuning.
	Setting string `json:"size"`
	// Flags are the same settings by `train` flag name, in order.
	Flags  []FlagValue `json:"flags,omitempty"`
	Params int         `json:"trainable_params"`
	// Skipped says why the method is not trained ("": it is).
	Skipped string `json:"skipped,omitempty"`
}

// FlagValue is one setting by its `train` flag name.
type FlagValue struct {
	Flag  string `json:"flag"`
	Key   string `json:"key"`
	Value string `json:"value"`
}

// tag is the size in a run directory's name: the values joined by "x"
// ("32", "8x2"), "" for none.
func (s Size) tag() string {
	var v []string
	for _, f := range s.Flags {
		v = append(v, f.Value)
	}
	return strings.Join(v, "x")
}

// candidate is one size to try: flag values in order.
type candidate []FlagValue

// sizeCandidates returns the sizes a method can take, in increasing
// order of their parameter count (for each family of sizes), and the
// flags that vary. A method without a size rule has a single candidate:
// its defaults.
func sizeCandidates(method string) [][]candidate {
	fv := func(flag string, v int) FlagValue { return FlagValue{Flag: flag, Value: strconv.Itoa(v)} }
	var fams [][]candidate
	switch method {
	case "lora":
		var f []candidate
		for r := 1; r <= 512; r++ {
			f = append(f, candidate{fv("lora-r", r)})
		}
		fams = append(fams, f)
	case "oft", COFT:
		var f []candidate
		for b := 2; b <= 512; b++ {
			f = append(f, candidate{fv("oft-block-size", b)})
		}
		fams = append(fams, f)
	case "boft":
		for _, factors := range []int{1, 2} {
			var f []candidate
			for b := 2; b <= 512; b++ {
				f = append(f, candidate{fv("boft-block-size", b), fv("boft-n-butterfly-factor", factors)})
			}
			fams = append(fams, f)
		}
	case "hra":
		var f []candidate
		for r := 2; r <= 512; r += 2 { // even r starts at the identity
			f = append(f, candidate{fv("hra-r", r)})
		}
		fams = append(fams, f)
	default:
		fams = append(fams, []candidate{nil})
	}
	return fams
}

// adapterConfig returns the training config of a study method with the
// given size and targets, settled and validated.
func adapterConfig(method string, flags []FlagValue, targets string, modelType string) (peft.Config, []FlagValue, error) {
	base, err := baseMethod(method)
	if err != nil {
		return nil, nil, err
	}
	meth, _ := peft.LookupMethod(base)
	cfg := meth.TrainingConfig()
	settings := map[string]peft.Setting{}
	for _, s := range peft.Settings(cfg) {
		settings[s.Flag] = s
	}
	if method == COFT {
		s, ok := settings["coft"]
		if !ok {
			return nil, nil, fmt.Errorf("%s: the oft method has no coft setting", method)
		}
		if err := s.Set("true"); err != nil {
			return nil, nil, err
		}
	}
	out := make([]FlagValue, len(flags))
	for i, f := range flags {
		s, ok := settings[f.Flag]
		if !ok {
			return nil, nil, fmt.Errorf("%s: no setting %q", method, f.Flag)
		}
		if err := s.Set(f.Value); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", method, err)
		}
		out[i] = FlagValue{Flag: f.Flag, Key: s.Key, Value: f.Value}
	}
	if r, ok := cfg.(peft.Resolver); ok {
		r.Resolve()
	}
	cfg.Base().TargetModules = peft.ParseTargets(targets)
	if !cfg.Base().TargetModules.IsSet {
		t, err := peft.DefaultTargets(modelType)
		if err != nil {
			return nil, nil, err
		}
		cfg.Base().TargetModules = t
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", method, err)
	}
	return cfg, out, nil
}

// CountParams returns the trainable-parameter count of a study method
// (a registered method, COFT or full) with the given size settings (by
// `train` flag name) on m, by building the adapter. m's linear slots are
// left holding the counted adapter: use a model loaded for counting.
func CountParams(m model.CausalLM, method string, flags []FlagValue, targets string) (int, error) {
	if method == finetune.FullMethod {
		n := 0
		for _, p := range m.Params() {
			n += p.W.Len()
		}
		return n, nil
	}
	cfg, _, err := adapterConfig(method, flags, targets, m.Info().ModelType)
	if err != nil {
		return 0, err
	}
	a, err := peft.Wrap(m).Add("count", cfg, tensor.NewRNG(0))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", method, err)
	}
	return a.CountParams(), nil
}

// DefaultBudget returns OFT block 32's trainable-parameter count on m with
// the targets.
func DefaultBudget(m model.CausalLM, targets string) (int, error) {
	if _, ok := peft.LookupMethod("oft"); !ok {
		return 0, fmt.Errorf("study: the default budget is OFT block 32's count and oft is not registered; set the budget")
	}
	n, err := CountParams(m, "oft", []FlagValue{{Flag: "oft-block-size", Value: "32"}}, targets)
	if err != nil {
		return 0, fmt.Errorf("study: the default budget (OFT block 32's count): %w; set the budget", err)
	}
	return n, nil
}

// MatchBudget chooses each method's size so that its trainable-parameter
// count lands within ±tol of budget, the count nearest the budget winning
// (the smaller size on a tie). A method that cannot is returned with
// Skipped saying so and naming the nearest sizes. Full fine-tuning is
// exempt: its count is the model's.
//
// settings are extra settings per method by `train` flag name (see
// Config.Settings), applied before the size; nil: none.
func MatchBudget(m model.CausalLM, methods []string, budget int, tol float64, targets string, settings map[string]map[string]string) ([]Size, error) {
	var out []Size
	for _, method := range methods {
		if method == finetune.FullMethod {
			n, _ := CountParams(m, method, nil, targets)
			out = append(out, Size{Method: method, Params: n})
			continue
		}
		if _, err := baseMethod(method); err != nil {
			return nil, err
		}
		s, err := matchOne(m, method, budget, tol, targets, extraFlags(settings, method))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func matchOne(m model.CausalLM, method string, budget int, tol float64, targets string, extra []FlagValue) (Size, error) {
	type found struct {
		flags []FlagValue
		n     int
	}
	var best, below, above *found
	var lastErr error
	hi := float64(budget) * (1 + tol)
	lo := float64(budget) * (1 - tol)
	ins, err := targetInFeatures(m, method, targets, extra)
	if err != nil {
		return Size{}, err
	}
	for _, fam := range sizeCandidates(method) {
		for _, c := range fam {
			if !dividesAll(c, ins) {
				continue // the method would change the block size (and say so)
			}
			cfg, flags, err := adapterConfig(method, append(append([]FlagValue(nil), extra...), c...), targets, m.Info().ModelType)
			if err != nil {
				lastErr = err
				continue
			}
			flags = flags[len(extra):]
			a, err := peft.Wrap(m).Add("count", cfg, tensor.NewRNG(0))
			if err != nil {
				lastErr = err
				continue
			}
			n := a.CountParams()
			f := &found{flags, n}
			d := math.Abs(float64(n - budget))
			if float64(n) >= lo && float64(n) <= hi && (best == nil || d < math.Abs(float64(best.n-budget))) {
				best = f
			}
			if n < budget && (below == nil || n > below.n) {
				below = f
			}
			if n >= budget && (above == nil || n < above.n) {
				above = f
			}
			if float64(n) > hi {
				break // counts grow with the size within a family
			}
		}
	}
	if best != nil {
		return Size{Method: method, Setting: settingText(best.flags), Flags: best.flags, Params: best.n}, nil
	}
	var near []string
	for _, f := range []*found{below, above} {
		if f != nil {
			near = append(near, fmt.Sprintf("%s gives %d (%+.0f%%)", settingText(f.flags), f.n, 100*(float64(f.n)/float64(budget)-1)))
		}
	}
	why := fmt.Sprintf("no size lands within ±%.0f%% of %d trainable parameters", 100*tol, budget)
	switch {
	case len(near) > 0:
		why += ": nearest " + strings.Join(near, ", ")
	case lastErr != nil:
		why += ": " + lastErr.Error()
	}
	return Size{Method: method, Skipped: why}, nil
}

// targetInFeatures returns the input widths of the layers the method's
// targets select on m.
func targetInFeatures(m model.CausalLM, method, targets string, extra []FlagValue) ([]int, error) {
	cfg, _, err := adapterConfig(method, extra, targets, m.Info().ModelType)
	if err != nil {
		return nil, err
	}
	slots, err := cfg.Base().Select(m.Linears())
	if err != nil {
		return nil, err
	}
	var ins []int
	for _, s := range slots {
		ins = append(ins, s.Base.In)
	}
	return ins, nil
}

// dividesAll reports whether a block-size candidate's block size divides
// every input width (blocks must tile each layer's input exactly); other
// candidates always pass.
func dividesAll(c candidate, ins []int) bool {
	for _, f := range c {
		if f.Flag != "oft-block-size" && f.Flag != "boft-block-size" {
			continue
		}
		b, _ := strconv.Atoi(f.Value)
		for _, in := range ins {
			if b <= 0 || in%b != 0 {
				return false
			}
		}
	}
	return true
}

// extraFlags returns a method's extra settings, by flag name.
func extraFlags(settings map[string]map[string]string, method string) []FlagValue {
	var out []FlagValue
	for _, flag := range slices.Sorted(maps.Keys(settings[method])) {
		out = append(out, FlagValue{Flag: flag, Value: settings[method][flag]})
	}
	return out
}

// settingText is the size as PEFT names it: "oft_block_size=32".
func settingText(flags []FlagValue) string {
	parts := make([]string, len(flags))
	for i, f := range flags {
		parts[i] = f.Key + "=" + f.Value
	}
	return strings.Join(parts, ",")
}
