package train

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/orthotune/orthotune/internal/atomicfile"
	"github.com/orthotune/orthotune/safetensors"
)

// Optimizer-state tensor names: a parameter's value, first and second
// moment, under the parameter's name.
const (
	valueSuffix    = ""
	expAvgSuffix   = ".exp_avg"
	expAvgSqSuffix = ".exp_avg_sq"
	stepsKey       = "adamw_steps"
)

// checkpoint writes OutputDir/checkpoint-N: the Target's artefact (so a
// checkpoint is itself a usable adapter), optimizer.safetensors (values
// and moments of every trainable tensor, bit-exact) and trainer_state.json
// (step, data position, generator states, log). It is built in a
// temporary directory and renamed into place.
func (t *Trainer) checkpoint() error {
	name := CheckpointPrefix + strconv.Itoa(t.state.GlobalStep)
	dest := filepath.Join(t.OutputDir, name)
	tmp, err := os.MkdirTemp(t.OutputDir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := t.Target.Save(tmp); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	var entries []safetensors.Entry
	for i, p := range t.opt.params {
		shape := p.Param.W.Shape
		entries = append(entries,
			safetensors.Entry{Name: p.Name + valueSuffix, DType: safetensors.F32, Shape: shape, Float: p.Param.W.Data},
			safetensors.Entry{Name: p.Name + expAvgSuffix, DType: safetensors.F32, Shape: shape, Float: t.opt.ExpAvg[i].Data},
			safetensors.Entry{Name: p.Name + expAvgSqSuffix, DType: safetensors.F32, Shape: shape, Float: t.opt.ExpAvgSq[i].Data})
	}
	meta := map[string]string{stepsKey: strconv.Itoa(t.opt.Steps)}
	if err := safetensors.Write(filepath.Join(tmp, OptimizerFile), entries, meta); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	st := t.state
	st.RNGStates = nil
	for _, g := range t.Target.RNGs() {
		b, err := g.MarshalBinary()
		if err != nil {
			return fmt.Errorf("train: checkpoint: %w", err)
		}
		st.RNGStates = append(st.RNGStates, b)
	}
	if err := writeJSON(filepath.Join(tmp, StateFile), st); err != nil {
		return err
	}
	if err := os.RemoveAll(dest); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	done = true
	t.lastCkpt = dest
	if t.Observe != nil {
		t.Observe(Event{Kind: "checkpoint", Dir: dest, Total: t.state.MaxSteps, Record: t.record()})
	}
	return t.pruneCheckpoints()
}

// pruneCheckpoints keeps the SaveTotalLimit newest checkpoints.
func (t *Trainer) pruneCheckpoints() error {
	if t.Config.SaveTotalLimit <= 0 {
		return nil
	}
	steps, err := Checkpoints(t.OutputDir)
	if err != nil {
		return err
	}
	for len(steps) > t.Config.SaveTotalLimit {
		dir := filepath.Join(t.OutputDir, CheckpointPrefix+strconv.Itoa(steps[0]))
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("train: removing old checkpoint: %w", err)
		}
		steps = steps[1:]
	}
	return nil
}

// Checkpoints returns the steps of the checkpoint-N directories in dir,
// ascending.
func Checkpoints(dir string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var steps []int
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), CheckpointPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		if n, err := strconv.Atoi(rest); err == nil && n > 0 {
			steps = append(steps, n)
		}
	}
	sort.Ints(steps)
	return steps, nil
}

// LatestCheckpoint returns the newest checkpoint directory in dir, or ""
// when there is none.
func LatestCheckpoint(dir string) (string, error) {
	steps, err := Checkpoints(dir)
	if err != nil || len(steps) == 0 {
		return "", err
	}
	return filepath.Join(dir, CheckpointPrefix+strconv.Itoa(steps[len(steps)-1])), nil
}

// Resume restores a checkpoint written by a run with the same Config
// (logging, evaluation and saving intervals may differ), Target and data:
// the trainable values, the optimizer's moments and step, every
// generator's state, the data position and the log. Run then continues
// as if never interrupted. Call it after setting the Trainer's fields and
// before Run.
func (t *Trainer) Resume(dir string) error {
	var st State
	statePath := filepath.Join(dir, StateFile)
	raw, err := os.ReadFile(statePath)
	if err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("train: resume: %s: %w", statePath, err)
	}
	if field := configMismatch(st.Config, t.Config); field != "" {
		return fmt.Errorf("train: resume: %s: the checkpoint was trained with %s different from this run's; resume with the same training settings", statePath, field)
	}
	if changed := fingerprintChanges(st.Fingerprint, t.Fingerprint); len(changed) > 0 {
		if !t.IgnoreChanges {
			return fmt.Errorf("train: resume: %s: the checkpoint was made from different inputs: %s; resume with the same inputs (or ignore the changes explicitly)", statePath, strings.Join(changed, "; "))
		}
		slog.Warn("resuming although the run's inputs changed since the checkpoint", "checkpoint", dir, "changed", strings.Join(changed, "; "))
	}
	if err := t.Config.Validate(); err != nil {
		return err
	}
	params := t.Target.Params()
	opt, err := NewAdamW(params, t.Config.AdamBeta1, t.Config.AdamBeta2, t.Config.AdamEpsilon, t.Config.WeightDecay)
	if err != nil {
		return err
	}
	optPath := filepath.Join(dir, OptimizerFile)
	f, err := safetensors.Open(optPath)
	if err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	defer f.Close()
	want := map[string]bool{}
	for i, p := range params {
		for _, part := range []struct {
			suffix string
			data   []float32
		}{{valueSuffix, p.Param.W.Data}, {expAvgSuffix, opt.ExpAvg[i].Data}, {expAvgSqSuffix, opt.ExpAvgSq[i].Data}} {
			name := p.Name + part.suffix
			want[name] = true
			v, err := f.Float32(name)
			if err != nil {
				return fmt.Errorf("train: resume: %s: %w", optPath, err)
			}
			if !slices.Equal(v.Shape, p.Param.W.Shape) {
				return fmt.Errorf("train: resume: %s: tensor %q has shape %v, the model's is %v", optPath, name, v.Shape, p.Param.W.Shape)
			}
			copy(part.data, v.Data)
		}
	}
	for _, name := range f.Names() {
		if !want[name] {
			return fmt.Errorf("train: resume: %s: tensor %q belongs to no trainable parameter of this run (a different method or targets?)", optPath, name)
		}
	}
	steps, err := strconv.Atoi(f.Metadata()[stepsKey])
	if err != nil || steps < 0 {
		return fmt.Errorf("train: resume: %s: metadata %q = %q, want a step count", optPath, stepsKey, f.Metadata()[stepsKey])
	}
	opt.Steps = steps
	rngs := t.Target.RNGs()
	if len(rngs) != len(st.RNGStates) {
		return fmt.Errorf("train: resume: %s: rng_states holds %d generators, this run has %d", statePath, len(st.RNGStates), len(rngs))
	}
	for i, g := range rngs {
		if err := g.UnmarshalBinary(st.RNGStates[i]); err != nil {
			return fmt.Errorf("train: resume: %s: rng_states[%d]: %w", statePath, i, err)
		}
	}
	if err := t.Train.Seek(st.DataPosition); err != nil {
		return fmt.Errorf("train: resume: %s: data_position: %w", statePath, err)
	}
	var kept []Record
	for _, r := range st.LogHistory {
		if r.Step <= st.GlobalStep {
			kept = append(kept, r)
		}
	}
	st.LogHistory = kept
	if st.LogHistory == nil {
		st.LogHistory = []Record{}
	}
	st.RNGStates = nil
	st.Config = t.Config
	st.Fingerprint = t.Fingerprint
	t.opt, t.state, t.resumed, t.lastCkpt = opt, st, true, dir
	return nil
}

// fingerprintChanges describes every input whose fingerprint differs
// between a checkpoint's (was) and this run's (now), sorted by name. A
// checkpoint without a fingerprint (written before they existed) matches.
func fingerprintChanges(was, now map[string]string) []string {
	if was == nil {
		return nil
	}
	keys := map[string]bool{}
	for k := range was {
		keys[k] = true
	}
	for k := range now {
		keys[k] = true
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		a, aok := was[k]
		b, bok := now[k]
		switch {
		case a == b && aok == bok:
		case !aok:
			out = append(out, fmt.Sprintf("%s is new (%s)", k, short(b)))
		case !bok:
			out = append(out, fmt.Sprintf("%s is gone (was %s)", k, short(a)))
		default:
			out = append(out, fmt.Sprintf("%s changed (%s, now %s)", k, short(a), short(b)))
		}
	}
	return out
}

// short abbreviates a content hash for messages.
func short(v string) string {
	if h, ok := strings.CutPrefix(v, "sha256:"); ok && len(h) > 12 {
		return "sha256:" + h[:12] + "…"
	}
	return v
}

// configMismatch names the first field that changes the training
// trajectory and differs between a and b, or returns "".
func configMismatch(a, b Config) string {
	// Intervals and checkpointing do not change what is computed.
	a.LoggingSteps, a.EvalSteps, a.SaveSteps, a.SaveTotalLimit, a.GradientCheckpointing = 0, 0, 0, 0, false
	b.LoggingSteps, b.EvalSteps, b.SaveSteps, b.SaveTotalLimit, b.GradientCheckpointing = 0, 0, 0, 0, false
	if a == b {
		return ""
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var ma, mb map[string]any
	json.Unmarshal(ja, &ma)
	json.Unmarshal(jb, &mb)
	keys := make([]string, 0, len(ma))
	for k := range ma {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if fmt.Sprint(ma[k]) != fmt.Sprint(mb[k]) {
			return fmt.Sprintf("%s = %v (now %v)", k, ma[k], mb[k])
		}
	}
	return "a different configuration"
}

func writeJSON(path string, v any) error {
	if err := atomicfile.WriteJSON(path, v); err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	return nil
}

// RemoveTemporary removes what a killed checkpoint write left in dir: the
// temporary .checkpoint-N.tmp-* directories that are renamed into place
// only when complete.
func RemoveTemporary(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "."+CheckpointPrefix) && strings.Contains(e.Name(), ".tmp-") {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("train: removing an unfinished checkpoint: %w", err)
			}
			slog.Info("removed an unfinished checkpoint a stopped run left", "dir", filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// IsOutputDir reports whether dir holds an orthotune training run
// (trainer_state.json, metrics.jsonl or checkpoints); a missing dir is not
// one.
func IsOutputDir(dir string) bool {
	for _, name := range []string{StateFile, MetricsFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	steps, err := Checkpoints(dir)
	return err == nil && len(steps) > 0
}
