package study

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/orthotune/orthotune/internal/atomicfile"
)

// tableRow is one method's line of the summary table: its best run by
// final task loss.
type tableRow struct {
	Method, Size string
	Params       int
	Runs         int
	Best         *Run // nil: the method has no finished run
	Skipped      string
}

// final returns a run's last point.
func final(r Run) Point { return r.Points[len(r.Points)-1] }

// tableRows summarises res per method, in the order of the sizes.
func tableRows(res *Result) []tableRow {
	var rows []tableRow
	for _, s := range res.Sizes {
		row := tableRow{Method: s.Method, Size: s.Setting, Params: s.Params, Skipped: s.Skipped}
		if row.Size == "" && s.Skipped == "" {
			row.Size = "every weight"
		}
		for i := range res.Runs {
			r := &res.Runs[i]
			if r.Method != s.Method || len(r.Points) == 0 {
				continue
			}
			row.Runs++
			if row.Best == nil || final(*r).TaskLoss < final(*row.Best).TaskLoss {
				row.Best = r
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// WriteTable writes the terminal table: per method its size, trainable
// parameters, and its best run by final task loss with that loss and the
// retain-loss increase over the base model.
func WriteTable(w io.Writer, res *Result) {
	fmt.Fprintf(w, "base model: task loss %.4f, retain loss %.4f (nats/token); budget %d trainable parameters\n\n",
		res.Base.TaskLoss, res.Base.RetainLoss, res.Budget)
	fmt.Fprintf(w, "  %-6s %-44s %10s %5s  %-22s %10s %14s %7s\n", "method", "size", "params", "runs", "best run (final task)", "task loss", "retain Δ loss", "exact")
	for _, row := range tableRows(res) {
		switch {
		case row.Skipped != "":
			fmt.Fprintf(w, "  %-6s skipped: %s\n", row.Method, row.Skipped)
		case row.Best == nil:
			fmt.Fprintf(w, "  %-6s %-44s %10d %5d  %-22s\n", row.Method, row.Size, row.Params, 0, "(no finished run)")
		default:
			p := final(*row.Best)
			fmt.Fprintf(w, "  %-6s %-44s %10d %5d  %-22s %10.4f %+14.4f %7s\n", row.Method, row.Size, row.Params, row.Runs,
				fmt.Sprintf("lr %g, seed %d", row.Best.LearningRate, row.Best.Seed), p.TaskLoss, p.RetainLoss-res.Base.RetainLoss, percent(p.TaskExact))
		}
	}
	if len(res.Missing) > 0 {
		fmt.Fprintf(w, "\n  %d run(s) not finished yet: %s\n", len(res.Missing), strings.Join(res.Missing, ", "))
	}
}

// percent formats an exact-answer rate, "–" when there is none.
func percent(rate *float64) string {
	if rate == nil {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100**rate)
}

// writeCSV writes one row per run and evaluation point; task_exact_match
// is empty when the task's records have no answers.
func writeCSV(path string, res *Result) error {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Write([]string{"method", "size", "trainable_params", "learning_rate", "seed", "dir", "step", "task_loss", "retain_loss", "retain_loss_increase", "task_exact_match"})
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	for _, r := range res.Runs {
		for _, p := range r.Points {
			exact := ""
			if p.TaskExact != nil {
				exact = f(*p.TaskExact)
			}
			cw.Write([]string{r.Method, r.Size, strconv.Itoa(r.Params), f(r.LearningRate), strconv.FormatUint(r.Seed, 10),
				filepath.ToSlash(r.Dir), strconv.Itoa(p.Step), f(p.TaskLoss), f(p.RetainLoss), f(p.RetainLoss - res.Base.RetainLoss), exact})
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, buf.Bytes())
}

// writeReport writes report.md into dir: the study's settings and the
// table, then — the hook for the analysis — whatever analysis adds (the
// frontier, the figures and the conclusion), if it is not nil.
//
// ANALYSIS HOOK: the analysis passes a value whose Markdown method returns
// its sections; everything it says goes after the table.
func writeReport(dir string, res *Result, analysis interface{ Markdown() string }) error {
	var b strings.Builder
	s := res.Settings
	fmt.Fprintf(&b, "# orthotune compare\n\n")
	fmt.Fprintf(&b, "Base model `%s`; task data `%s` (evaluated on `%s`); retain data `%s`.\n\n", s.Model, s.Data, s.EvalData, s.RetainData)
	fmt.Fprintf(&b, "Every method trains %d steps (batches of %d, %s schedule, %d warmup steps), evaluated every %d steps, with %d seed(s) per learning rate; "+
		"adapters target `%s` at a budget of %d trainable parameters (±%.0f%%).\n\n",
		s.Steps, s.BatchSize, s.Scheduler, s.WarmupSteps, s.EvalInterval, s.Seeds, s.TargetModules, res.Budget, 100*s.Tolerance)
	if len(s.Settings) > 0 {
		var parts []string
		for _, m := range slices.Sorted(maps.Keys(s.Settings)) {
			for _, f := range extraFlags(s.Settings, m) {
				parts = append(parts, fmt.Sprintf("%s `--%s %s`", m, f.Flag, f.Value))
			}
		}
		fmt.Fprintf(&b, "Method settings: %s.\n\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(&b, "Base model: task loss %.4f, retain loss %.4f nats/token.\n\n", res.Base.TaskLoss, res.Base.RetainLoss)
	b.WriteString("| method | size | trainable parameters | learning rates | runs | best run (final task loss) | task loss | retain-loss increase | exact answers |\n")
	b.WriteString("|---|---|---:|---|---:|---|---:|---:|---:|\n")
	for _, row := range tableRows(res) {
		var lrs []string
		for _, lr := range s.LearningRates[row.Method] {
			lrs = append(lrs, strconv.FormatFloat(lr, 'g', -1, 64))
		}
		switch {
		case row.Skipped != "":
			fmt.Fprintf(&b, "| %s | skipped: %s | | | | | | | |\n", row.Method, row.Skipped)
		case row.Best == nil:
			fmt.Fprintf(&b, "| %s | %s | %d | %s | 0 | | | | |\n", row.Method, row.Size, row.Params, strings.Join(lrs, ", "))
		default:
			p := final(*row.Best)
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %d | lr %g, seed %d | %.4f | %+.4f | %s |\n", row.Method, row.Size, row.Params,
				strings.Join(lrs, ", "), row.Runs, row.Best.LearningRate, row.Best.Seed, p.TaskLoss, p.RetainLoss-res.Base.RetainLoss, percent(p.TaskExact))
		}
	}
	if len(res.Missing) > 0 {
		fmt.Fprintf(&b, "\n%d run(s) not finished yet: %s.\n", len(res.Missing), strings.Join(res.Missing, ", "))
	}
	fmt.Fprintf(&b, "\nEvery run and evaluation point: `%s`, `%s`.\n", CompareFile, CSVFile)
	if len(res.Layers) > 0 {
		b.WriteString("\n## What each method's best run did to the weights\n\n")
		b.WriteString("Relative change over the layers the run changed: hyperspherical energy of the neurons (the angles between them; an orthogonal rotation keeps it) and the weight's Frobenius norm. Per layer: `layer_changes` in `" + CompareFile + "`.\n\n")
		b.WriteString("| method | best run | energy change, median | energy change, largest | norm change, median | norm change, largest |\n|---|---|---:|---:|---:|---:|\n")
		for _, m := range res.Layers {
			fmt.Fprintf(&b, "| %s | %s | %+.2e | %.2e | %+.2e | %.2e |\n", m.Method, m.Dir, m.EnergyChangeMedian, m.EnergyChangeMaxAbs, m.NormChangeMedian, m.NormChangeMaxAbs)
		}
	}
	if analysis != nil {
		b.WriteString("\n")
		b.WriteString(analysis.Markdown())
	}
	return atomicfile.WriteBytes(filepath.Join(dir, ReportFile), []byte(b.String()))
}
