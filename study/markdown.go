package study

import (
	"fmt"
	"strings"
)

// Markdown renders the analysis for report.md: the figures, forgetting at
// matched learning and learning at matched forgetting (median over seeds
// with the min–max range), the conclusion and the notes.
func (a Analysis) Markdown() string {
	var b strings.Builder
	b.WriteString("## Learning against forgetting\n\n")
	fmt.Fprintf(&b, "![task loss against retain-loss increase](%s)\n\n![task and retain loss over training](%s)\n\n", FrontierFile, TrajectoriesFile)
	fmt.Fprintf(&b, "Base model: task loss %.4g, retain loss %.4g nats/token.\n\n", a.BaseTaskLoss, a.BaseRetainLoss)
	table := func(title, levelName string, levels []float64, pick func(MethodAnalysis) []Matched) {
		if len(levels) == 0 {
			return
		}
		fmt.Fprintf(&b, "### %s\n\n| method |", title)
		for _, l := range levels {
			fmt.Fprintf(&b, " %s %.3g |", levelName, l)
		}
		b.WriteString("\n|---|")
		for range levels {
			b.WriteString("---|")
		}
		b.WriteString("\n")
		for _, m := range a.Methods {
			fmt.Fprintf(&b, "| %s |", MethodLabel(m.Method))
			for i := range levels {
				ms := pick(m)
				if i >= len(ms) || ms[i].Reached == 0 {
					b.WriteString(" not reached |")
					continue
				}
				fmt.Fprintf(&b, " %.3g (%.3g–%.3g) |", ms[i].Median, ms[i].Min, ms[i].Max)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	table("Retain-loss increase at matched learning (median over seeds, min–max)", "task loss", a.TaskLevels,
		func(m MethodAnalysis) []Matched { return m.AtMatchedLearning })
	table("Task loss at matched forgetting (median over seeds, min–max)", "retain +", a.ForgetLevels,
		func(m MethodAnalysis) []Matched { return m.AtMatchedForgetting })
	exact := false
	for _, m := range a.Methods {
		exact = exact || m.ExactAnswers != nil
	}
	if exact {
		b.WriteString("### Exact answers at the end of training\n\nShare of the task's evaluation records whose completion greedy decoding of the prompt reproduces token for token, at each method's learning rate with the lowest median final task loss.\n\n")
		b.WriteString("| method | learning rate | seeds | exact answers, median | min–max | base model |\n|---|---:|---:|---:|---|---:|\n")
		for _, m := range a.Methods {
			if e := m.ExactAnswers; e != nil {
				fmt.Fprintf(&b, "| %s | %g | %d | %.1f%% | %.1f–%.1f%% | %.1f%% |\n", MethodLabel(m.Method), e.LearningRate, e.Seeds, 100*e.Median, 100*e.Min, 100*e.Max, 100*e.Base)
			}
		}
		b.WriteString("\n")
	}
	if a.Conclusion != "" {
		fmt.Fprintf(&b, "### Conclusion\n\n%s\n\n", a.Conclusion)
	}
	for _, n := range a.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	return b.String()
}
