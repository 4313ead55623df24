package main

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"

	"github.com/orthotune/orthotune/internal/atomicfile"
	"github.com/orthotune/orthotune/internal/plot"
	"github.com/orthotune/orthotune/internal/progress"
	"github.com/orthotune/orthotune/train"
)

// trainProgress shows a training run: a bar on a terminal, plain lines
// otherwise, evaluation results and checkpoints as lines of their own.
type trainProgress struct {
	bar   *progress.Bar
	label string
	quiet bool
}

func newTrainProgress(w io.Writer, label string, total int, quiet bool) *trainProgress {
	if quiet {
		return &trainProgress{quiet: true}
	}
	return &trainProgress{bar: progress.New(w, progress.Options{Label: label, Total: total}), label: label}
}

func (p *trainProgress) observe(e train.Event) {
	if p.quiet {
		return
	}
	switch e.Kind {
	case "step":
		p.bar.AddTokens(e.StepTokens)
		fields := []progress.Field{{Name: "loss", Value: *e.Record.Loss, Format: "%.4f"}, {Name: "lr", Value: *e.Record.LearningRate, Format: "%.1e"}}
		p.bar.Update(e.Record.Step, fields...)
	case "eval":
		if e.Record.Step == 0 {
			p.bar.Log("%s: before training: eval loss %.4f, perplexity %.2f (%d tokens)", p.label, *e.Record.EvalLoss, *e.Record.EvalPerplexity, e.Record.EvalTokens)
			return
		}
		p.bar.Log("%s: step %d: eval loss %.4f, perplexity %.2f (%d tokens)", p.label, e.Record.Step, *e.Record.EvalLoss, *e.Record.EvalPerplexity, e.Record.EvalTokens)
	case "checkpoint":
		p.bar.Log("%s: step %d: checkpoint %s", p.label, e.Record.Step, e.Dir)
	}
}

func (p *trainProgress) finish() {
	if !p.quiet {
		p.bar.Finish()
	}
}

// LossPlotFile is the loss-curve picture written into a training run's
// output directory.
const LossPlotFile = "loss.svg"

// writeLossPlot draws the training loss per step and the evaluation loss
// from a run's log into dir/loss.svg.
func writeLossPlot(dir string, records []train.Record, label string) error {
	var trainPts, evalPts []plot.Point
	for _, r := range records {
		if r.Loss != nil {
			trainPts = append(trainPts, plot.Point{X: float64(r.Step), Y: *r.Loss})
		}
		if r.EvalLoss != nil {
			evalPts = append(evalPts, plot.Point{X: float64(r.Step), Y: *r.EvalLoss})
		}
	}
	series := []plot.Series{{Name: "training loss", Points: trainPts}}
	if len(evalPts) > 0 {
		series = append(series, plot.Series{Name: "evaluation loss", Points: evalPts, Dashed: true})
	}
	c := plot.Chart{Title: label + ": next-token loss", XLabel: "optimizer step", YLabel: "loss (nats/token)", Width: 800, Height: 450}
	var buf bytes.Buffer
	if err := c.WriteSVG(&buf, series...); err != nil {
		return fmt.Errorf("%s: %w", LossPlotFile, err)
	}
	return atomicfile.WriteBytes(filepath.Join(dir, LossPlotFile), buf.Bytes())
}
