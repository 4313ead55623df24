package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/internal/testref"
)

func inspectJSON(t *testing.T, args ...string) adapterReport {
	t.Helper()
	stdout := mustRun(t, append([]string{"inspect", "--json"}, args...)...)
	var r adapterReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, stdout)
	}
	return r
}

// adapterReport is inspect's JSON output as its readers see it: the
// method's diagnostics by their keys.
type adapterReport struct {
	Method     string         `json:"method"`
	Parameters int            `json:"trainable_parameters"`
	Layers     []adapterLayer `json:"layers"`
}

type adapterLayer struct {
	Module       string   `json:"module"`
	Parameters   int      `json:"parameters"`
	BlockSize    int      `json:"block_size"`
	Blocks       int      `json:"blocks"`
	Shared       bool     `json:"block_share"`
	QNorm        *float64 `json:"q_frobenius_norm"`
	OrthError    *float64 `json:"orthogonality_error_max"`
	Radius       *float64 `json:"coft_radius"`
	Rank         int      `json:"rank"`
	Scaling      *float64 `json:"scaling"`
	EnergyBase   *float64 `json:"hyperspherical_energy_base"`
	EnergyMerged *float64 `json:"hyperspherical_energy_merged"`
	EnergyChange *float64 `json:"hyperspherical_energy_relative_change"`
}

// TestInspectEnergy: merging an exact-Cayley OFT adapter keeps every
// layer's hyperspherical energy (up to float32 rounding); LoRA changes it.
func TestInspectEnergy(t *testing.T) {
	for _, arch := range refArchs {
		modelDir := filepath.Join(testref.Dir(), "model", arch)
		t.Run(arch+"/oft_cayley", func(t *testing.T) {
			r := inspectJSON(t, "--model", modelDir, filepath.Join(modelDir, "oft_cayley"))
			if len(r.Layers) == 0 {
				t.Fatal("no layers")
			}
			for _, l := range r.Layers {
				if l.EnergyBase == nil || l.EnergyMerged == nil || l.EnergyChange == nil || *l.EnergyBase <= 0 {
					t.Fatalf("%s: energies missing: %+v", l.Module, l)
				}
				t.Logf("%s: HE %.9g → %.9g (%+.2e); max ‖RᵀR−I‖_F %.2e", l.Module, *l.EnergyBase, *l.EnergyMerged, *l.EnergyChange, *l.OrthError)
				if math.Abs(*l.EnergyChange) >= 1e-5 {
					t.Errorf("%s: exact-Cayley OFT changed the hyperspherical energy by %.3g (relative)", l.Module, *l.EnergyChange)
				}
				if *l.OrthError > 1e-5 {
					t.Errorf("%s: exact Cayley rotation has ‖RᵀR−I‖_F = %g", l.Module, *l.OrthError)
				}
			}
		})
		t.Run(arch+"/lora", func(t *testing.T) {
			r := inspectJSON(t, "--model", modelDir, filepath.Join(modelDir, "lora"))
			// Observed on the reference adapters: |relative change| 1.2e-3 to
			// 2.4e-3 per layer; exact-Cayley OFT stays below 1e-10.
			largest := 0.0
			for _, l := range r.Layers {
				if l.EnergyChange == nil {
					t.Fatalf("%s: no energy change reported", l.Module)
				}
				t.Logf("%s: HE %.9g → %.9g (%+.2e)", l.Module, *l.EnergyBase, *l.EnergyMerged, *l.EnergyChange)
				largest = max(largest, math.Abs(*l.EnergyChange))
			}
			if largest < 1e-4 {
				t.Errorf("LoRA changed the hyperspherical energy by at most %.3g (relative); want > 1e-4 somewhere", largest)
			}
		})
	}
}

// TestInspectFiles: without --model the report comes from the two adapter
// files and agrees with the one made on the model.
func TestInspectFiles(t *testing.T) {
	llama := filepath.Join(testref.Dir(), "model", "llama")
	for _, tc := range []struct {
		adapter string
		want    []string
	}{
		{"oft", []string{"method         OFT, Cayley–Neumann (5 terms)", `targets        ["q_proj" "v_proj"]`, "parameters     1920",
			"block size", "blocks", "model.layers.1.self_attn.v_proj  16", "‖Q‖_F", "max ‖RᵀR−I‖_F"}},
		{"oft_cayley", []string{"OFT, exact Cayley", "1920", "block size"}},
		{"lora", []string{"method         LORA", `targets        ["q_proj" "v_proj"]`, "parameters     3584", "rank", "scaling",
			"model.layers.0.self_attn.v_proj  8     2        768"}},
	} {
		t.Run(tc.adapter, func(t *testing.T) {
			dir := filepath.Join(llama, tc.adapter)
			stdout := mustRun(t, "inspect", dir)
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("inspect output lacks %q:\n%s", w, stdout)
				}
			}
			if strings.Contains(stdout, "HE base") {
				t.Errorf("energy columns without --model:\n%s", stdout)
			}
			withModel := mustRun(t, "inspect", "--model", llama, dir)
			if !strings.Contains(withModel, "HE base") || !strings.Contains(withModel, "HE rel. change") {
				t.Errorf("no energy columns with --model:\n%s", withModel)
			}

			files, onModel := inspectJSON(t, dir), inspectJSON(t, "--model", llama, dir)
			if files.Method != onModel.Method || files.Parameters != onModel.Parameters || len(files.Layers) != len(onModel.Layers) {
				t.Fatalf("files: %s %d params %d layers; on the model: %s %d params %d layers",
					files.Method, files.Parameters, len(files.Layers), onModel.Method, onModel.Parameters, len(onModel.Layers))
			}
			for i, f := range files.Layers {
				m := onModel.Layers[i]
				if f.Module != m.Module || f.BlockSize != m.BlockSize || f.Blocks != m.Blocks || f.Rank != m.Rank || f.Parameters != m.Parameters {
					t.Errorf("layer %d: files %+v, on the model %+v", i, f, m)
				}
				if (f.OrthError == nil) != (m.OrthError == nil) || f.OrthError != nil && *f.OrthError != *m.OrthError {
					t.Errorf("%s: orthogonality error differs between files and model", f.Module)
				}
				if tc.adapter != "lora" && (f.BlockSize != 16 || f.Blocks != 4 || f.QNorm == nil || *f.QNorm <= 0) {
					t.Errorf("%s: block size %d, blocks %d, ‖Q‖ %v; want 16, 4, > 0", f.Module, f.BlockSize, f.Blocks, f.QNorm)
				}
				if tc.adapter == "lora" && (f.Rank != 8 || f.Scaling == nil || *f.Scaling != 2) {
					t.Errorf("%s: rank %d, scaling %v; want 8, 2", f.Module, f.Rank, f.Scaling)
				}
			}
		})
	}
}

// TestInspectCOFTAndSharedBlocks: COFT adapters report the radius and are
// measured after the projection; block_share adapters one shared block.
func TestInspectCOFTAndSharedBlocks(t *testing.T) {
	tmp := t.TempDir()
	modelDir := filepath.Join(tmp, "m")
	if _, err := testmodel.Write(modelDir, testmodel.Spec{ModelType: "llama"}); err != nil {
		t.Fatal(err)
	}
	coft := methodConfig(t, "oft", []string{"q_proj", "up_proj"}, "oft-block-size", "8", "coft", "true", "eps", "1e-3")
	coftDir := filepath.Join(tmp, "coft")
	makeAdapter(t, modelDir, coftDir, coft)
	shared := methodConfig(t, "oft", []string{"k_proj"}, "oft-block-size", "4", "block-share", "true", "use-cayley-neumann", "false")
	sharedDir := filepath.Join(tmp, "shared")
	makeAdapter(t, modelDir, sharedDir, shared)

	for _, args := range [][]string{{coftDir}, {"--model", modelDir, coftDir}} {
		stdout := mustRun(t, append([]string{"inspect"}, args...)...)
		if !strings.Contains(stdout, "COFT (eps 0.001)") || !strings.Contains(stdout, "COFT radius") {
			t.Errorf("%v: no COFT in\n%s", args, stdout)
		}
		r := inspectJSON(t, args...)
		if len(r.Layers) != 4 {
			t.Fatalf("%v: %d layers, want 4", args, len(r.Layers))
		}
		for _, l := range r.Layers {
			want := float64(float32(1e-3 / math.Sqrt(2))) // 16 inputs / 8 = 2 rows
			if l.Radius == nil || *l.Radius != want {
				t.Errorf("%s: radius %v, want %g", l.Module, l.Radius, want)
			}
			// The stored Q is far outside the ball; R is built from the
			// projected Q, so it is close to orthogonal.
			if *l.QNorm <= want || *l.OrthError > 1e-6 {
				t.Errorf("%s: ‖Q‖_F %g (want > radius), max ‖RᵀR−I‖_F %g (want ≤ 1e-6)", l.Module, *l.QNorm, *l.OrthError)
			}
		}
	}
	for _, args := range [][]string{{sharedDir}, {"--model", modelDir, sharedDir}} {
		stdout := mustRun(t, append([]string{"inspect"}, args...)...)
		if !strings.Contains(stdout, "1 (shared)") {
			t.Errorf("%v: no shared block in\n%s", args, stdout)
		}
		r := inspectJSON(t, args...)
		for _, l := range r.Layers {
			if !l.Shared || l.Blocks != 1 || l.BlockSize != 4 || l.Parameters != 6 {
				t.Errorf("%s: %+v; want one shared block of 4 (6 parameters)", l.Module, l)
			}
			if l.EnergyChange != nil && math.Abs(*l.EnergyChange) > 1e-5 {
				t.Errorf("%s: exact-Cayley shared block changed the energy by %g", l.Module, *l.EnergyChange)
			}
		}
	}
}
