package train

import (
	"fmt"
	"math"
)

// Config holds the training hyper-parameters, named as transformers'
// TrainingArguments names them (the JSON keys).
type Config struct {
	LearningRate              float64 `json:"learning_rate"`
	AdamBeta1                 float64 `json:"adam_beta1"`
	AdamBeta2                 float64 `json:"adam_beta2"`
	AdamEpsilon               float64 `json:"adam_epsilon"`
	WeightDecay               float64 `json:"weight_decay"`
	MaxGradNorm               float64 `json:"max_grad_norm"` // ≤ 0: no clipping
	LRSchedulerType           string  `json:"lr_scheduler_type"`
	WarmupSteps               int     `json:"warmup_steps"`
	NumTrainEpochs            float64 `json:"num_train_epochs"`
	MaxSteps                  int     `json:"max_steps"` // > 0 overrides NumTrainEpochs
	BatchSize                 int     `json:"per_device_train_batch_size"`
	GradientAccumulationSteps int     `json:"gradient_accumulation_steps"`
	LoggingSteps              int     `json:"logging_steps"`
	EvalSteps                 int     `json:"eval_steps"`       // 0: evaluate only at the end
	SaveSteps                 int     `json:"save_steps"`       // 0: no intermediate checkpoints
	SaveTotalLimit            int     `json:"save_total_limit"` // > 0: keep only the newest checkpoints
	Seed                      uint64  `json:"seed"`
	// GradientCheckpointing recomputes each block's activations in the
	// backward pass instead of keeping them (model.Checkpointer): less
	// memory, about a third more compute, the same results.
	GradientCheckpointing bool `json:"gradient_checkpointing"`
}

// DefaultConfig returns transformers' defaults where they suit adapter
// training, and a learning rate of 1e-4 (transformers' 5e-5 is meant for
// full fine-tuning).
func DefaultConfig() Config {
	return Config{
		LearningRate: 1e-4, AdamBeta1: 0.9, AdamBeta2: 0.999, AdamEpsilon: 1e-8, MaxGradNorm: 1,
		LRSchedulerType: Linear, NumTrainEpochs: 3, BatchSize: 8, GradientAccumulationSteps: 1,
		LoggingSteps: 1, Seed: 42,
	}
}

// Validate checks every field, naming the one that is wrong.
func (c Config) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("train: %s = %v, want %s", field, v, want)
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch {
	case !(c.LearningRate > 0) || !finite(c.LearningRate):
		return bad("learning_rate", c.LearningRate, "> 0")
	case !(c.AdamBeta1 >= 0 && c.AdamBeta1 < 1):
		return bad("adam_beta1", c.AdamBeta1, "in [0, 1)")
	case !(c.AdamBeta2 >= 0 && c.AdamBeta2 < 1):
		return bad("adam_beta2", c.AdamBeta2, "in [0, 1)")
	case !(c.AdamEpsilon > 0) || !finite(c.AdamEpsilon):
		return bad("adam_epsilon", c.AdamEpsilon, "> 0")
	case !(c.WeightDecay >= 0) || !finite(c.WeightDecay):
		return bad("weight_decay", c.WeightDecay, "≥ 0")
	case math.IsNaN(c.MaxGradNorm) || math.IsInf(c.MaxGradNorm, 0):
		return bad("max_grad_norm", c.MaxGradNorm, "a number")
	case c.MaxSteps < 0:
		return bad("max_steps", c.MaxSteps, "≥ 0")
	case c.MaxSteps == 0 && (!(c.NumTrainEpochs > 0) || !finite(c.NumTrainEpochs)):
		return bad("num_train_epochs", c.NumTrainEpochs, "> 0 (or set max_steps)")
	case c.BatchSize < 1:
		return bad("per_device_train_batch_size", c.BatchSize, "≥ 1")
	case c.GradientAccumulationSteps < 1:
		return bad("gradient_accumulation_steps", c.GradientAccumulationSteps, "≥ 1")
	case c.WarmupSteps < 0:
		return bad("warmup_steps", c.WarmupSteps, "≥ 0")
	case c.LoggingSteps < 0:
		return bad("logging_steps", c.LoggingSteps, "≥ 0")
	case c.EvalSteps < 0:
		return bad("eval_steps", c.EvalSteps, "≥ 0")
	case c.SaveSteps < 0:
		return bad("save_steps", c.SaveSteps, "≥ 0")
	case c.SaveTotalLimit < 0:
		return bad("save_total_limit", c.SaveTotalLimit, "≥ 0")
	}
	return Schedule{Kind: c.LRSchedulerType, TotalSteps: 1}.Validate()
}

// TotalSteps returns the number of optimizer updates for a data set of
// stepsPerEpoch batches: MaxSteps when set, else as transformers counts
// them, ceil(epochs · max(1, ⌊stepsPerEpoch / accumulation⌋)).
func (c Config) TotalSteps(stepsPerEpoch int) int {
	if c.MaxSteps > 0 {
		return c.MaxSteps
	}
	updates := max(1, stepsPerEpoch/c.GradientAccumulationSteps)
	return int(math.Ceil(c.NumTrainEpochs * float64(updates)))
}
