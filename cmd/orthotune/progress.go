package main

import (
	"fmt"
	"io"
	"time"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/internal/progress"
	"github.com/orthotune/orthotune/train"
)

// trainReporter shows a training run (finetune.Reporter): what it will do,
// a bar on a terminal (plain lines otherwise), evaluation results and
// checkpoints as lines of their own, and a closing line.
type trainReporter struct {
	stdout, stderr io.Writer
	bar            *progress.Bar
	label          string
}

func newTrainReporter(stdout, stderr io.Writer) *trainReporter {
	return &trainReporter{stdout: stdout, stderr: stderr}
}

// Begin prints the run's plan and starts the bar.
func (p *trainReporter) Begin(plan finetune.Plan) {
	p.label = plan.Name
	what := plan.Method
	if plan.Targets != "" {
		what = fmt.Sprintf("%s on %s", plan.Method, plan.Targets)
	}
	info := plan.Info
	fmt.Fprintf(p.stderr, "%s: %s (%s, %s parameters) · %s · %d trainable parameters (%.3g%%)\n", p.label, plan.Model, info.ModelType,
		humanCount(info.Parameters), what, plan.Trainable, 100*float64(plan.Trainable)/float64(info.Parameters))
	dropped := ""
	if plan.Dropped > 0 {
		dropped = fmt.Sprintf(", %d dropped: no target token within max_seq_length", plan.Dropped)
	}
	fmt.Fprintf(p.stderr, "%s: %d training examples (%d tokens, %d truncated%s), %d for evaluation · %d steps of %d×%d sequences\n",
		p.label, plan.TrainRows, plan.Train.Tokens, plan.Train.Truncated, dropped, plan.EvalRows, plan.Steps, plan.BatchSize, plan.Accumulate)
	p.bar = progress.New(p.stderr, progress.Options{Label: p.label, Total: plan.Steps})
}

// Observe shows a step, an evaluation or a checkpoint.
func (p *trainReporter) Observe(e train.Event) {
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

// End closes the bar and prints the run's figures.
func (p *trainReporter) End(res finetune.Result) {
	p.close()
	st := res.State
	msg := fmt.Sprintf("%s: done in %s: %d steps, %d tokens", p.label, res.Elapsed.Round(time.Second), st.GlobalStep, st.NumTokens)
	for i := len(st.LogHistory) - 1; i >= 0; i-- {
		if r := st.LogHistory[i]; r.EvalLoss != nil {
			msg += fmt.Sprintf(", eval loss %.4f (perplexity %.2f)", *r.EvalLoss, *r.EvalPerplexity)
			break
		}
	}
	fmt.Fprintln(p.stderr, msg)
	fmt.Fprintf(p.stdout, "wrote %s\n", res.OutputDir)
}

// close finishes the bar, if one was started and is not finished.
func (p *trainReporter) close() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}
