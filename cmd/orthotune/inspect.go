package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/peft"
)

const inspectSynopsis = "inspect [--model DIR] [--json] ADAPTER_DIR\n\n" +
	"Describes a PEFT adapter directory: method, target modules, trainable parameter count and, per\n" +
	"adapted layer, the method's diagnostics (OFT: block size, number of blocks, ‖Q‖_F of the layer's\n" +
	"skew matrices, the largest ‖RᵀR − I‖_F over its blocks with the adapter's own Cayley\n" +
	"parametrisation after the COFT projection, COFT radius; LoRA: rank and scaling). Without --model only the\n" +
	"adapter's two files are read. With --model the adapter is attached to the model (checking that it\n" +
	"fits) and each adapted layer's hyperspherical energy is computed before and after merging (neurons:\n" +
	"rows of an nn.Linear (out, in) weight, columns of a Conv1D (in, out) weight; O(out²·in) per layer)."

func runInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("inspect")
	modelDir := fs.String("model", "", "Hugging Face model directory: attach the adapter to it and report each layer's hyperspherical energy before and after merging")
	loadOptions := loadFlags(fs)
	asJSON := fs.Bool("json", false, "print a JSON object instead of text")
	positional, err := parseFlags(fs, inspectSynopsis, args, 1, 1, stdout, stderr)
	if err != nil {
		return err
	}
	dir := positional[0]
	var r *peft.Report
	if *modelDir == "" {
		r, err = peft.InspectDir(dir)
	} else {
		opts, oerr := loadOptions()
		if oerr != nil {
			return oerr
		}
		pm, a, lerr := finetune.LoadAdapted(*modelDir, dir, opts...)
		if lerr != nil {
			return lerr
		}
		r, err = peft.InspectOnModel(pm, a, dir, *modelDir)
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

func printAdapterReport(w io.Writer, r *peft.Report) {
	method := r.Method
	for _, d := range r.Details {
		if d.Format != "" {
			method += ", " + d.Text()
		}
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
	// Columns: the module, each diagnostic label any layer reports (in the
	// order first seen), the parameter count, and with a model the energies.
	var labels []string
	seen := map[string]bool{}
	for _, l := range r.Layers {
		for _, d := range l.Diagnostics {
			if d.Label != "" && !seen[d.Label] {
				seen[d.Label] = true
				labels = append(labels, d.Label)
			}
		}
	}
	head := append(append([]string{"module"}, labels...), "params")
	if r.Model != "" {
		head = append(head, "HE base", "HE merged", "HE rel. change")
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\n", strings.Join(head, "\t"))
	for _, l := range r.Layers {
		cells := map[string]string{}
		for _, d := range l.Diagnostics {
			cells[d.Label] = d.Text()
		}
		row := []string{l.Module}
		for _, label := range labels {
			v, ok := cells[label]
			if !ok {
				v = "-"
			}
			row = append(row, v)
		}
		row = append(row, fmt.Sprint(l.Parameters))
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
