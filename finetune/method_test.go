package finetune_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

// A method that exists only in this test, registered as any method
// package registers itself: it learns a scale for each input feature,
// y = base(x ⊙ (1 + d)), stored as scale_d.weight [in]. Merging scales the
// weight's input columns. It is the proof that a method plugs in with no
// change outside its own code.
func init() {
	peft.RegisterMethod(peft.Method{
		Name: "scaletest", PeftType: "SCALETEST", Summary: "test-only: a learned scale per input feature",
		NewConfig: func(t peft.ModuleList) peft.Config { return newScaleConfig(t) },
		Parse: func(path string, data []byte) (peft.Config, []string, error) {
			c := newScaleConfig(peft.ModuleList{})
			warnings, err := peft.DecodeConfig(path, data, c)
			if err != nil {
				return nil, nil, err
			}
			return c, warnings, c.Validate()
		},
	})
}

type scaleConfig struct {
	peft.BaseConfig
	InitSpread float64 `json:"init_spread" flag:"scale-init-spread" help:"standard deviation of the initial scales (0: the identity)"`
	Dropout    float64 `json:"scale_dropout" flag:"scale-dropout" help:"probability of dropping a row's scale in training"`
}

func newScaleConfig(targets peft.ModuleList) *scaleConfig {
	c := &scaleConfig{BaseConfig: peft.NewBaseConfig("SCALETEST")}
	c.TargetModules = targets
	return c
}

func (c *scaleConfig) Validate() error {
	if c.Dropout < 0 || c.Dropout >= 1 {
		return fmt.Errorf("scale_dropout %v must be in [0, 1)", c.Dropout)
	}
	if !c.TargetModules.IsSet {
		return fmt.Errorf("target_modules is null")
	}
	return nil
}

func (c *scaleConfig) Suffixes() []string { return []string{"scale_d.weight"} }

func (c *scaleConfig) InferShape(module string, ts map[string]*tensor.Tensor) (int, int, error) {
	d := ts["scale_d.weight"]
	if len(d.Shape) != 1 {
		return 0, 0, fmt.Errorf("layer %s: scale_d.weight has shape %v, want [in]", module, d.Shape)
	}
	return d.Shape[0], 1, nil
}

func (c *scaleConfig) NewLayer(slot *model.LinearSlot, rng *tensor.RNG) (peft.Layer, error) {
	d := tensor.New(slot.Base.In)
	if c.InitSpread > 0 {
		rng.Normal(d, 0, c.InitSpread)
	}
	return &scaleLayer{LayerCore: peft.NewLayerCore(slot.Base, uint64(rng.IntN(1<<62))), D: nn.NewParam(slot.Name+".scale_d.weight", d), dropout: c.Dropout}, nil
}

func (c *scaleConfig) LoadLayer(slot *model.LinearSlot, ts map[string]*tensor.Tensor) (peft.Layer, error) {
	d := ts["scale_d.weight"]
	if len(d.Shape) != 1 || d.Shape[0] != slot.Base.In {
		return nil, fmt.Errorf("layer %s: scale_d.weight has shape %v, the layer has %d inputs", slot.Name, d.Shape, slot.Base.In)
	}
	return &scaleLayer{LayerCore: peft.NewLayerCore(slot.Base, 1), D: nn.NewParam(slot.Name+".scale_d.weight", d), dropout: c.Dropout}, nil
}

type scaleLayer struct {
	peft.LayerCore
	D       *nn.Param
	dropout float64
	merged  bool
	x       *tensor.Tensor
	keep    []bool // rows whose scale applies (dropout)
}

var _ peft.Layer = (*scaleLayer)(nil)

func (l *scaleLayer) factor(j int) float32 { return 1 + l.D.W.Data[j] }

func (l *scaleLayer) Forward(x *tensor.Tensor) *tensor.Tensor {
	in := l.Base().In
	rows := x.Len() / in
	l.x, l.keep = x, make([]bool, rows)
	xs := tensor.New(x.Shape...)
	for r := range rows {
		l.keep[r] = !(l.Training() && l.dropout > 0 && l.RNG().Float64() < l.dropout)
		for j := range in {
			v := x.Data[r*in+j]
			if l.keep[r] {
				v *= l.factor(j)
			}
			xs.Data[r*in+j] = v
		}
	}
	return l.Base().Forward(xs)
}

func (l *scaleLayer) Backward(dy *tensor.Tensor) *tensor.Tensor {
	dxs := l.Base().Backward(dy)
	in := l.Base().In
	for r := range dxs.Len() / in {
		if !l.keep[r] {
			continue
		}
		for j := range in {
			g := dxs.Data[r*in+j]
			if l.D.Grad != nil {
				l.D.Grad.Data[j] += g * l.x.Data[r*in+j]
			}
			dxs.Data[r*in+j] = g * l.factor(j)
		}
	}
	return dxs
}

func (l *scaleLayer) Tensors() []peft.Tensor {
	return []peft.Tensor{{Suffix: "scale_d.weight", Param: l.D}}
}

func (l *scaleLayer) scaleWeight(inverse bool) {
	b := l.Base()
	for j := range b.In {
		f := l.factor(j)
		if inverse {
			f = 1 / f
		}
		for o := range b.Out {
			if b.Conv1D {
				b.Weight.W.Data[j*b.Out+o] *= f
			} else {
				b.Weight.W.Data[o*b.In+j] *= f
			}
		}
	}
}

func (l *scaleLayer) Merge() error {
	if !l.merged {
		l.scaleWeight(false)
		l.merged = true
	}
	return nil
}

func (l *scaleLayer) Unmerge() error {
	if l.merged {
		l.scaleWeight(true)
		l.merged = false
	}
	return nil
}

func (l *scaleLayer) Merged() bool     { return l.merged }
func (l *scaleLayer) Describe() string { return fmt.Sprintf("%d scales", l.Base().In) }

func (l *scaleLayer) Diagnostics() []peft.Diagnostic {
	worst := 0.0
	for _, v := range l.D.W.Data {
		worst = max(worst, float64(v), -float64(v))
	}
	return []peft.Diagnostic{{Key: "max_abs_scale_change", Label: "max |d|", Value: worst, Format: "%.3g"}}
}

func (l *scaleLayer) ReplicaOn(base *nn.Linear, r *nn.Replicas) (nn.Layer, error) {
	if l.merged {
		return nil, fmt.Errorf("scaletest: merged")
	}
	return &scaleLayer{LayerCore: l.ReplicaCore(base), D: r.Param(l.D), dropout: l.dropout}, nil
}

func (l *scaleLayer) ShareStep(on bool) {
	if on && l.Training() && l.dropout > 0 {
		l.SeedReplicas()
	}
}

// TestTestOnlyMethodThroughThePipeline: the method above trains through
// finetune.Run (data-parallel, with dropout, so its random streams are
// checkpointed), resumes bit-identically after an interruption, writes a
// PEFT-format directory that loads back, merges to the same logits, and
// is inspected from its files and on its model.
func TestTestOnlyMethodThroughThePipeline(t *testing.T) {
	m, ok := peft.LookupMethod("scaletest")
	if !ok {
		t.Fatal("scaletest is not registered")
	}
	var names []string
	for _, s := range peft.Settings(m.TrainingConfig()) {
		names = append(names, s.Flag)
	}
	if strings.Join(names, ",") != "scale-init-spread,scale-dropout" {
		t.Fatalf("settings %v", names)
	}
	newJob := func(out string) finetune.Job {
		job := finetune.NewJob(tinyModel, countData, out)
		cfg := m.TrainingConfig().(*scaleConfig)
		cfg.TargetModules, cfg.Dropout = peft.Pattern(peft.AllLinear), 0.2
		job.Adapter = cfg
		job.Training.MaxSteps, job.Training.LearningRate, job.Training.BatchSize, job.Training.SaveSteps = 12, 5e-2, 4, 4
		job.Replicas = 2
		return job
	}
	root := t.TempDir()
	whole := filepath.Join(root, "whole")
	res, err := finetune.Run(context.Background(), newJob(whole))
	if err != nil {
		t.Fatal(err)
	}
	log := res.State.LogHistory
	if first, last := *log[0].EvalLoss, *log[len(log)-1].EvalLoss; !(last < first) {
		t.Errorf("evaluation loss %g → %g: the method did not learn", first, last)
	}
	cut := filepath.Join(root, "cut")
	interruptAt(t, newJob(cut), 6)
	resumed := newJob(cut)
	resumed.Resume = "latest"
	if _, err := finetune.Run(context.Background(), resumed); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(whole, peft.WeightsFile), filepath.Join(cut, peft.WeightsFile))

	var settings map[string]any
	raw, _ := os.ReadFile(filepath.Join(whole, finetune.TrainConfigFile))
	if err := json.Unmarshal(raw, &settings); err != nil || settings["method"] != "scaletest" || settings["scale_dropout"] != 0.2 {
		t.Errorf("train_config.json: %v %s", err, raw)
	}

	pm, a, err := finetune.LoadAdapted(tinyModel, whole)
	if err != nil {
		t.Fatal(err)
	}
	a.SetTraining(false)
	ids := [][]int{{1, 2, 3, 4, 5, 6}}
	adapted, err := pm.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	adapted = adapted.Clone()
	if err := pm.Merge(); err != nil {
		t.Fatal(err)
	}
	merged, _ := pm.Forward(ids)
	if d := tensor.MaxAbsDiff(adapted.Data, merged.Data); d > 1e-4 {
		t.Errorf("merged logits differ by %g", d)
	}
	if err := pm.DisableAdapters(); err != nil {
		t.Fatal(err)
	}
	plain, _ := pm.Forward(ids)
	if tensor.MaxAbsDiff(adapted.Data, plain.Data) < 1e-4 {
		t.Error("the trained adapter does not change the logits")
	}

	files, err := peft.InspectDir(whole)
	if err != nil {
		t.Fatal(err)
	}
	if files.Method != "SCALETEST" || len(files.Layers) != len(a.Modules) || files.Layers[0].Diagnostics[0].Key != "max_abs_scale_change" {
		t.Fatalf("report from the files: %+v", files)
	}
	pm2, a2, err := finetune.LoadAdapted(tinyModel, whole)
	if err != nil {
		t.Fatal(err)
	}
	onModel, err := peft.InspectOnModel(pm2, a2, whole, tinyModel)
	if err != nil {
		t.Fatal(err)
	}
	fromFiles := map[string]peft.LayerReport{}
	for _, l := range files.Layers {
		fromFiles[l.Module] = l
	}
	for _, l := range onModel.Layers {
		f := fromFiles[l.Module]
		if l.EnergyBase == nil || l.EnergyMerged == nil || len(f.Diagnostics) == 0 || l.Diagnostics[0].Value != f.Diagnostics[0].Value {
			t.Errorf("%s: on the model %+v, from the files %+v", l.Module, l, f)
		}
	}
}
