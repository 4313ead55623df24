package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/orth"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/lora"
	"github.com/orthotune/orthotune/peft/oft"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

const inspectSynopsis = "inspect [--model DIR] [--json] ADAPTER_DIR\n\n" +
	"Describes a PEFT adapter directory: method, target modules, trainable parameter count and, per\n" +
	"adapted layer, OFT's block size, number of blocks, ‖Q‖_F (the layer's skew matrices), the largest\n" +
	"‖RᵀR − I‖_F over its blocks (R built with the adapter's own Cayley parametrisation, after the COFT\n" +
	"projection when coft is set) and COFT radius, or LoRA's rank and scaling. Without --model only the\n" +
	"adapter's two files are read. With --model the adapter is attached to the model (checking that it\n" +
	"fits) and each adapted layer's hyperspherical energy is computed before and after merging (neurons:\n" +
	"rows of an nn.Linear (out, in) weight, columns of a Conv1D (in, out) weight; O(out²·in) per layer)."

// adapterReport is inspect's output, printed as text or JSON.
type adapterReport struct {
	Dir         string          `json:"dir"`
	Method      string          `json:"method"`
	PeftVersion string          `json:"peft_version,omitempty"`
	Targets     peft.ModuleList `json:"target_modules"`
	Rotation    string          `json:"rotation,omitempty"` // OFT: the Cayley parametrisation
	COFT        bool            `json:"coft,omitempty"`
	Eps         float64         `json:"eps,omitempty"`
	Parameters  int             `json:"trainable_parameters"`
	Model       string          `json:"model,omitempty"`
	Layers      []adapterLayer  `json:"layers"`
	// Extra lists base-model weights the adapter carries (bias modes,
	// modules_to_save), by name.
	Extra []string `json:"extra_tensors,omitempty"`
}

// adapterLayer describes one adapted module. Diagnostics that do not apply
// are left out of the JSON.
type adapterLayer struct {
	Module      string `json:"module"`
	Parameters  int    `json:"parameters"`
	Description string `json:"description,omitempty"` // the layer's own summary (with --model)
	// OFT
	BlockSize int      `json:"block_size,omitempty"`
	Blocks    int      `json:"blocks,omitempty"` // rows of oft_R.weight
	Shared    bool     `json:"block_share,omitempty"`
	QNorm     *float64 `json:"q_frobenius_norm,omitempty"`
	OrthError *float64 `json:"orthogonality_error_max,omitempty"`
	Radius    *float64 `json:"coft_radius,omitempty"`
	// LoRA
	Rank    int      `json:"rank,omitempty"`
	Scaling *float64 `json:"scaling,omitempty"`
	// With --model: hyperspherical energy of the base and merged weight.
	EnergyBase   *float64 `json:"hyperspherical_energy_base,omitempty"`
	EnergyMerged *float64 `json:"hyperspherical_energy_merged,omitempty"`
	EnergyChange *float64 `json:"hyperspherical_energy_relative_change,omitempty"`
}

func runInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("inspect")
	modelDir := fs.String("model", "", "Hugging Face model directory: attach the adapter to it and report each layer's hyperspherical energy before and after merging")
	asJSON := fs.Bool("json", false, "print a JSON object instead of text")
	positional, err := parseFlags(fs, inspectSynopsis, args, 1, 1, stdout, stderr)
	if err != nil {
		return err
	}
	dir := positional[0]
	var r *adapterReport
	if *modelDir == "" {
		r, err = inspectFiles(dir)
	} else {
		r, err = inspectOnModel(dir, *modelDir)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printAdapterReport(stdout, r)
	return nil
}

// newAdapterReport fills the config-level fields.
func newAdapterReport(dir string, cfg peft.Config) *adapterReport {
	b := cfg.Base()
	r := &adapterReport{Dir: dir, Method: b.PeftType, PeftVersion: b.PeftVersion, Targets: b.TargetModules, Layers: []adapterLayer{}}
	if c, ok := cfg.(*oft.Config); ok {
		r.Rotation = c.Cayley().String()
		r.COFT = c.COFT
		if c.COFT {
			r.Eps = c.Eps
		}
	}
	return r
}

// inspectFiles reads adapter_config.json and adapter_model.safetensors
// only. Each layer is rebuilt on a stand-in base layer sized from its
// tensors, so the diagnostics use the method's own code.
func inspectFiles(dir string) (*adapterReport, error) {
	cfgPath := filepath.Join(dir, peft.ConfigFile)
	cfg, _, err := peft.ReadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	wPath := filepath.Join(dir, peft.WeightsFile)
	f, err := safetensors.Open(wPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if kc, ok := cfg.(peft.KeyChecker); ok {
		if err := kc.CheckKeys(f.Names()); err != nil {
			return nil, fmt.Errorf("%s: %w", wPath, err)
		}
	}
	r := newAdapterReport(dir, cfg)
	suffixes := cfg.Suffixes()
	var modules []string
	seen := map[string]bool{}
	for _, key := range f.Names() {
		info, _ := f.Info(key)
		r.Parameters += info.Numel()
		rest, ok := strings.CutPrefix(key, peft.KeyPrefix)
		if !ok {
			return nil, fmt.Errorf("%s: tensor %q does not start with %q, so it is no PEFT adapter key", wPath, key, peft.KeyPrefix)
		}
		module := ""
		for _, s := range suffixes {
			if m, ok := strings.CutSuffix(rest, "."+s); ok {
				module = m
				break
			}
		}
		if module == "" {
			r.Extra = append(r.Extra, rest)
			continue
		}
		if !seen[module] {
			seen[module] = true
			modules = append(modules, module)
		}
	}
	if len(modules) == 0 {
		return nil, fmt.Errorf("%s: no tensor ends in %s: the file holds no %s layer", wPath, strings.Join(suffixes, " or "), r.Method)
	}
	naturalSort(modules)
	// Without a model, at least check that the config selects every layer
	// the file holds (loading would refuse the adapter otherwise).
	if t := cfg.Base().TargetModules; !(t.IsPattern() && strings.EqualFold(t.Pattern, peft.AllLinear)) {
		for _, m := range modules {
			ok, err := cfg.Base().Match(m)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", cfgPath, err)
			}
			if !ok {
				return nil, fmt.Errorf("%s: target_modules %s do not select layer %s, whose tensors %s holds", cfgPath, t, m, wPath)
			}
		}
	}
	for _, m := range modules {
		ts := map[string]*tensor.Tensor{}
		for _, s := range suffixes {
			key := peft.Key(m, s)
			if _, ok := f.Info(key); !ok {
				return nil, fmt.Errorf("%s: tensor %q is missing (layer %s has the other tensors of %s)", wPath, key, m, r.Method)
			}
			t, err := f.Float32(key)
			if err != nil {
				return nil, err
			}
			ts[s] = t
		}
		l, err := standaloneLayer(cfg, m, ts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", wPath, err)
		}
		if l == nil { // a method inspect knows nothing more about
			n := 0
			for _, t := range ts {
				n += t.Len()
			}
			r.Layers = append(r.Layers, adapterLayer{Module: m, Parameters: n})
			continue
		}
		r.Layers = append(r.Layers, describeLayer(m, l))
	}
	return r, nil
}

// standaloneLayer loads one layer's tensors onto a stand-in base layer of
// the size the tensors imply (OFT: rows·b inputs; LoRA: lora_A's inputs and
// lora_B's outputs). It returns nil for methods it does not know.
func standaloneLayer(cfg peft.Config, module string, ts map[string]*tensor.Tensor) (peft.Layer, error) {
	var in, out int
	switch c := cfg.(type) {
	case *oft.Config:
		w := ts["oft_R.weight"]
		if len(w.Shape) != 2 {
			return nil, fmt.Errorf("layer %s: oft_R.weight has shape %v, want (blocks, b(b−1)/2)", module, w.Shape)
		}
		b, err := orth.BlockSizeFromParams(w.Shape[1])
		if err != nil {
			return nil, fmt.Errorf("layer %s: oft_R.weight has shape %v: %w", module, w.Shape, err)
		}
		in = w.Shape[0] * b
		if c.BlockShare {
			in = b
		}
		out = in
	case *lora.Config:
		a, b := ts["lora_A.weight"], ts["lora_B.weight"]
		if len(a.Shape) != 2 || len(b.Shape) != 2 {
			return nil, fmt.Errorf("layer %s: lora_A.weight %v and lora_B.weight %v must be matrices", module, a.Shape, b.Shape)
		}
		in, out = a.Shape[1], b.Shape[0]
	default:
		return nil, nil
	}
	slot := &model.LinearSlot{Name: module, Base: &nn.Linear{Name: module, In: in, Out: out}}
	return cfg.LoadLayer(slot, ts)
}

// inspectOnModel attaches the adapter to the model, describes each layer,
// and measures each adapted weight's hyperspherical energy before and after
// merging.
func inspectOnModel(dir, modelDir string) (*adapterReport, error) {
	pm, a, err := loadAdapted(modelDir, dir, "auto")
	if err != nil {
		return nil, err
	}
	r := newAdapterReport(dir, a.Config)
	r.Model = modelDir
	r.Parameters = a.CountParams()
	r.Extra = append(r.Extra, sortedNames(a.Extra)...)
	for _, m := range a.Modules {
		l := a.Layers[m]
		lr := describeLayer(m, l)
		lr.Description = l.Describe()
		e := neuronEnergy(l.Base())
		lr.EnergyBase = &e
		r.Layers = append(r.Layers, lr)
	}
	if err := pm.Merge(); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	for i, m := range a.Modules {
		lr := &r.Layers[i]
		e := neuronEnergy(a.Layers[m].Base())
		lr.EnergyMerged = &e
		if *lr.EnergyBase != 0 {
			c := (e - *lr.EnergyBase) / *lr.EnergyBase
			lr.EnergyChange = &c
		}
	}
	return r, nil
}

// describeLayer reports a layer's method-specific diagnostics. For OFT it
// measures ‖Q‖_F on the stored parameters, then builds the rotations
// (which applies the COFT projection to them, as every forward does).
func describeLayer(module string, l peft.Layer) adapterLayer {
	r := adapterLayer{Module: module}
	for _, t := range l.Tensors() {
		r.Parameters += t.Param.W.Len()
	}
	switch l := l.(type) {
	case *oft.Layer:
		rows, b := l.Param.W.Shape[0], l.BlockSize
		r.BlockSize, r.Blocks, r.Shared = b, rows, l.Shared
		q := orth.SkewNorm(l.Param.W.Data)
		r.QNorm = &q
		if l.COFT {
			rad := l.Radius()
			r.Radius = &rad
		}
		rot := l.Rotations()
		worst := 0.0
		for i := range rows {
			worst = max(worst, orth.OrthogonalityError(rot[i*b*b:(i+1)*b*b], b))
		}
		r.OrthError = &worst
	case *lora.Layer:
		s := l.Scaling
		r.Rank, r.Scaling = l.Rank, &s
	}
	return r
}

func printAdapterReport(w io.Writer, r *adapterReport) {
	method := r.Method
	if r.Rotation != "" {
		method += ", " + r.Rotation
	}
	if r.COFT {
		method += fmt.Sprintf(", COFT (eps %g)", r.Eps)
	}
	fmt.Fprintf(w, "adapter        %s\n", r.Dir)
	fmt.Fprintf(w, "method         %s\n", method)
	if r.PeftVersion != "" {
		fmt.Fprintf(w, "peft_version   %s\n", r.PeftVersion)
	}
	fmt.Fprintf(w, "targets        %s\n", r.Targets)
	fmt.Fprintf(w, "parameters     %d (%s) trainable, %d layers\n", r.Parameters, humanCount(r.Parameters), len(r.Layers))
	if r.Model != "" {
		fmt.Fprintf(w, "model          %s\n", r.Model)
	}
	if len(r.Extra) > 0 {
		fmt.Fprintf(w, "base weights   %s\n", strings.Join(r.Extra, ", "))
	}
	fmt.Fprintf(w, "\nadapted layers (%d):\n", len(r.Layers))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	var head []string
	switch r.Method {
	case "OFT":
		head = []string{"module", "block size", "blocks", "params", "‖Q‖_F", "max ‖RᵀR−I‖_F"}
		if r.COFT {
			head = append(head, "COFT radius")
		}
	case "LORA":
		head = []string{"module", "rank", "scaling", "params"}
	default:
		head = []string{"module", "params"}
	}
	if r.Model != "" {
		head = append(head, "HE base", "HE merged", "HE rel. change")
	}
	fmt.Fprintf(tw, "  %s\n", strings.Join(head, "\t"))
	for _, l := range r.Layers {
		var row []string
		switch r.Method {
		case "OFT":
			blocks := fmt.Sprint(l.Blocks)
			if l.Shared {
				blocks += " (shared)"
			}
			row = []string{l.Module, fmt.Sprint(l.BlockSize), blocks, fmt.Sprint(l.Parameters), num(l.QNorm, "%.4g"), num(l.OrthError, "%.2e")}
			if r.COFT {
				row = append(row, num(l.Radius, "%.3g"))
			}
		case "LORA":
			row = []string{l.Module, fmt.Sprint(l.Rank), num(l.Scaling, "%.4g"), fmt.Sprint(l.Parameters)}
		default:
			row = []string{l.Module, fmt.Sprint(l.Parameters)}
		}
		if r.Model != "" {
			row = append(row, num(l.EnergyBase, "%.8g"), num(l.EnergyMerged, "%.8g"), num(l.EnergyChange, "%+.2e"))
		}
		fmt.Fprintf(tw, "  %s\n", strings.Join(row, "\t"))
	}
	tw.Flush()
}

// num formats an optional value, "-" when absent.
func num(v *float64, format string) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf(format, *v)
}
