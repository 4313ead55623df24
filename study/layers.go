package study

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
)

// LayerChange is how a run moved one linear layer's weight: the
// hyperspherical energy of its neurons (peft.NeuronEnergy) and its
// Frobenius norm, in the base model and after fine-tuning (an adapter
// merged).
type LayerChange struct {
	Module      string  `json:"module"`
	EnergyBase  float64 `json:"energy_base"`
	EnergyTuned float64 `json:"energy_tuned"`
	NormBase    float64 `json:"norm_base"`
	NormTuned   float64 `json:"norm_tuned"`
}

// MethodLayers is the per-layer change of one method's best run (the run
// with the lowest final task loss), with the median and the largest
// relative changes over the layers.
type MethodLayers struct {
	Method string        `json:"method"`
	Dir    string        `json:"dir"`
	Layers []LayerChange `json:"layers"`
	// Relative changes (tuned − base) / base over the layers the run changed.
	EnergyChangeMedian float64 `json:"energy_relative_change_median"`
	EnergyChangeMaxAbs float64 `json:"energy_relative_change_max_abs"`
	NormChangeMedian   float64 `json:"norm_relative_change_median"`
	NormChangeMaxAbs   float64 `json:"norm_relative_change_max_abs"`
}

// baseLayers measures every linear layer but the output head of the base
// model in modelDir once, for every run's comparison: LayerChange with the
// Base fields set, in model order.
func baseLayers(modelDir string) ([]LayerChange, error) {
	base, err := model.Load(modelDir)
	if err != nil {
		return nil, err
	}
	var out []LayerChange
	for _, s := range base.Linears() {
		if !s.Head {
			out = append(out, LayerChange{Module: s.Name, EnergyBase: peft.NeuronEnergy(s.Base), NormBase: frobenius(s.Base.Weight.W.Data)})
		}
	}
	return out, nil
}

// layerChanges measures run r (in studyDir) against base (baseLayers of
// the model in modelDir).
func layerChanges(studyDir, modelDir string, base []LayerChange, r Run) (MethodLayers, error) {
	out := MethodLayers{Method: r.Method, Dir: r.Dir, Layers: []LayerChange{}}
	runDir := filepath.Join(studyDir, r.Dir)
	var tuned model.CausalLM
	var err error
	if r.Method == finetune.FullMethod {
		if tuned, err = model.Load(runDir); err != nil {
			return out, err
		}
	} else {
		pm, _, err := finetune.LoadAdapted(modelDir, runDir)
		if err != nil {
			return out, err
		}
		if err := pm.Merge(); err != nil {
			return out, fmt.Errorf("%s: %w", runDir, err)
		}
		tuned = pm
	}
	after := map[string]*model.LinearSlot{}
	for _, s := range tuned.Linears() {
		after[s.Name] = s
	}
	var energy, norm []float64
	for _, c := range base {
		t, ok := after[c.Module]
		if !ok {
			continue
		}
		c.EnergyTuned, c.NormTuned = peft.NeuronEnergy(t.Base), frobenius(t.Base.Weight.W.Data)
		out.Layers = append(out.Layers, c)
		if c.NormTuned != c.NormBase || c.EnergyTuned != c.EnergyBase {
			energy = append(energy, relative(c.EnergyTuned, c.EnergyBase))
			norm = append(norm, relative(c.NormTuned, c.NormBase))
		}
	}
	out.EnergyChangeMedian, out.EnergyChangeMaxAbs = medianMaxAbs(energy)
	out.NormChangeMedian, out.NormChangeMaxAbs = medianMaxAbs(norm)
	return out, nil
}

func frobenius(w []float32) float64 {
	var s float64
	for _, v := range w {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}

func relative(tuned, base float64) float64 {
	if base == 0 {
		return 0
	}
	return (tuned - base) / base
}

func medianMaxAbs(xs []float64) (median, maxAbs float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	median = s[len(s)/2]
	if len(s)%2 == 0 {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	for _, x := range xs {
		maxAbs = math.Max(maxAbs, math.Abs(x))
	}
	return median, maxAbs
}
