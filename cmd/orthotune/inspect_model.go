package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/orthotune/orthotune/model"
)

const inspectModelSynopsis = "inspect-model [--json] DIR"

// modelReport is inspect-model's output, printed as text or JSON.
type modelReport struct {
	Dir              string         `json:"dir"`
	ModelType        string         `json:"model_type"`
	Layers           int            `json:"layers"`
	Hidden           int            `json:"hidden_size"`
	Heads            int            `json:"attention_heads"`
	KVHeads          int            `json:"key_value_heads"`
	HeadDim          int            `json:"head_dim"`
	Intermediate     int            `json:"intermediate_size"`
	Vocab            int            `json:"vocab_size"`
	MaxPositions     int            `json:"max_positions"`
	TiedEmbeddings   bool           `json:"tied_embeddings"`
	Parameters       int            `json:"parameters"`
	CheckpointDTypes map[string]int `json:"checkpoint_dtypes"`
	Linears          []linearReport `json:"linear_layers"`
}

type linearReport struct {
	Name   string `json:"name"`
	In     int    `json:"in_features"`
	Out    int    `json:"out_features"`
	Bias   bool   `json:"bias"`
	Conv1D bool   `json:"conv1d,omitempty"`
	Head   bool   `json:"output_head,omitempty"`
}

func runInspectModel(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("inspect-model")
	asJSON := fs.Bool("json", false, "print a JSON object instead of text")
	positional, err := parseFlags(fs, inspectModelSynopsis, args, 1, 1, stdout, stderr)
	if err != nil {
		return err
	}
	dir := positional[0]
	m, err := model.Load(dir)
	if err != nil {
		return err
	}
	info := m.Info()
	r := modelReport{
		Dir: dir, ModelType: info.ModelType, Layers: info.Layers, Hidden: info.Hidden, Heads: info.Heads,
		KVHeads: info.KVHeads, HeadDim: info.HeadDim, Intermediate: info.Intermediate, Vocab: info.Vocab,
		MaxPositions: info.MaxPositions, TiedEmbeddings: info.TiedEmbeddings, Parameters: info.Parameters,
		CheckpointDTypes: info.CheckpointDTypes,
	}
	for _, s := range m.Linears() {
		r.Linears = append(r.Linears, linearReport{Name: s.Name, In: s.Base.In, Out: s.Base.Out,
			Bias: s.Base.Bias != nil, Conv1D: s.Base.Conv1D, Head: s.Head})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printModelReport(stdout, r)
	return nil
}

func printModelReport(w io.Writer, r modelReport) {
	var dtypes []string
	for dt, n := range r.CheckpointDTypes {
		dtypes = append(dtypes, fmt.Sprintf("%s×%d", dt, n))
	}
	sort.Strings(dtypes)
	fmt.Fprintf(w, "model          %s\n", r.Dir)
	fmt.Fprintf(w, "architecture   %s\n", r.ModelType)
	fmt.Fprintf(w, "layers         %d\n", r.Layers)
	fmt.Fprintf(w, "hidden size    %d\n", r.Hidden)
	fmt.Fprintf(w, "heads          %d query, %d key/value, head dim %d\n", r.Heads, r.KVHeads, r.HeadDim)
	fmt.Fprintf(w, "intermediate   %d\n", r.Intermediate)
	fmt.Fprintf(w, "vocabulary     %d\n", r.Vocab)
	fmt.Fprintf(w, "max positions  %d\n", r.MaxPositions)
	fmt.Fprintf(w, "tied head      %v\n", r.TiedEmbeddings)
	fmt.Fprintf(w, "parameters     %d (%s)\n", r.Parameters, humanCount(r.Parameters))
	fmt.Fprintf(w, "dtypes on disk %s\n", strings.Join(dtypes, ", "))
	fmt.Fprintf(w, "\nlinear layers (%d):\n", len(r.Linears))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  name\tin\tout\tnotes")
	for _, l := range r.Linears {
		var notes []string
		if l.Bias {
			notes = append(notes, "bias")
		}
		if l.Conv1D {
			notes = append(notes, "Conv1D (in, out) weight")
		}
		if l.Head {
			notes = append(notes, "output head")
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\n", l.Name, l.In, l.Out, strings.Join(notes, ", "))
	}
	tw.Flush()
}

// humanCount renders n as 1.2K / 3.4M / 5.6B.
func humanCount(n int) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
