package train

import (
	"fmt"
	"math"
)

// Scheduler names, as transformers' lr_scheduler_type spells them.
const (
	Constant            = "constant"
	ConstantWithWarmup  = "constant_with_warmup"
	Linear              = "linear"
	Cosine              = "cosine"
	defaultScheduleName = Linear
)

// Schedule gives the learning-rate multiplier for each optimizer update.
type Schedule struct {
	Kind        string // constant, constant_with_warmup, linear or cosine
	WarmupSteps int
	TotalSteps  int
}

// Validate checks the kind and step counts.
func (s Schedule) Validate() error {
	switch s.Kind {
	case Constant, ConstantWithWarmup, Linear, Cosine:
	default:
		return fmt.Errorf("train: lr_scheduler_type %q, want constant, constant_with_warmup, linear or cosine", s.Kind)
	}
	if s.WarmupSteps < 0 {
		return fmt.Errorf("train: warmup_steps = %d, want ≥ 0", s.WarmupSteps)
	}
	if s.TotalSteps < 1 {
		return fmt.Errorf("train: %d training steps, want ≥ 1", s.TotalSteps)
	}
	return nil
}

// Factor returns the multiplier of the base learning rate for update
// number step (0 for the first update), as transformers' schedules compute
// it: a linear warmup from 0 over WarmupSteps updates, then constant, a
// linear decay to 0 at TotalSteps, or half a cosine down to 0. Unlike
// transformers, "constant" honours warmup steps too (it is then
// constant_with_warmup): a warmup the user asked for is never ignored.
func (s Schedule) Factor(step int) float64 {
	if step < s.WarmupSteps {
		return float64(step) / float64(max(1, s.WarmupSteps))
	}
	switch s.Kind {
	case Linear:
		return max(0, float64(s.TotalSteps-step)/float64(max(1, s.TotalSteps-s.WarmupSteps)))
	case Cosine:
		progress := float64(step-s.WarmupSteps) / float64(max(1, s.TotalSteps-s.WarmupSteps))
		return max(0, 0.5*(1+math.Cos(math.Pi*progress)))
	default:
		return 1
	}
}
