package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/internal/atomicfile"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/tensor"
)

// File names in an output directory and in its checkpoints.
const (
	MetricsFile      = "metrics.jsonl"
	StateFile        = "trainer_state.json"
	OptimizerFile    = "optimizer.safetensors"
	CheckpointPrefix = "checkpoint-"
)

// Batches is a resumable stream of training batches (data.Loader).
type Batches interface {
	Next() data.Batch
	Position() data.Position
	Seek(data.Position) error
	StepsPerEpoch() int
}

// Record is one line of metrics.jsonl: a training step's figures, an
// evaluation, or both. Fields that do not apply are omitted.
type Record struct {
	Step           int      `json:"step"`
	Epoch          float64  `json:"epoch"`
	Loss           *float64 `json:"loss,omitempty"`
	LearningRate   *float64 `json:"learning_rate,omitempty"`
	GradNorm       *float64 `json:"grad_norm,omitempty"`
	NumTokens      int64    `json:"num_tokens"`                // input tokens (padding excluded) seen so far
	TokensPerS     *float64 `json:"tokens_per_s,omitempty"`    // over the steps since the last record
	EvalLoss       *float64 `json:"eval_loss,omitempty"`       // mean next-token loss on the evaluation set
	EvalPerplexity *float64 `json:"eval_perplexity,omitempty"` // exp(eval_loss)
	EvalTokens     int      `json:"eval_tokens,omitempty"`     // target tokens evaluated
	ElapsedS       float64  `json:"elapsed_s"`                 // wall time of this run (not counting before a resume)
}

// State is what trainer_state.json holds: where the run is and what it
// has logged. Checkpoints hold it too, with the generator states.
type State struct {
	GlobalStep   int           `json:"global_step"`
	MaxSteps     int           `json:"max_steps"`
	Epoch        float64       `json:"epoch"`
	NumTokens    int64         `json:"num_tokens"`
	DataPosition data.Position `json:"data_position"`
	// RNGStates are the Target's generators, in its order.
	RNGStates    [][]byte `json:"rng_states,omitempty"`
	BestEvalLoss *float64 `json:"best_eval_loss,omitempty"`
	LogHistory   []Record `json:"log_history"`
	Config       Config   `json:"train_config"`
	// Fingerprint identifies the run's inputs (see Trainer.Fingerprint).
	Fingerprint map[string]string `json:"fingerprint,omitempty"`
}

// NonFiniteError stops training when the loss or the gradient norm is NaN
// or infinite. The adapter is not saved; the last checkpoint (if any) is
// the last good state.
type NonFiniteError struct {
	Step       int     // the optimizer step (1-based) that failed
	What       string  // "loss" or "gradient norm"
	Value      float64 // the value seen
	Checkpoint string  // the newest checkpoint directory, or ""
}

func (e *NonFiniteError) Error() string {
	last := "no checkpoint was saved before it"
	if e.Checkpoint != "" {
		last = "the last good checkpoint is " + e.Checkpoint
	}
	return fmt.Sprintf("the %s is %v at step %d: training stopped (%s); try a lower learning_rate or max_grad_norm", e.What, e.Value, e.Step, last)
}

// InterruptedError is what Run returns when its context is cancelled: the
// run stopped after step Step and, when it had taken any step, wrote a
// checkpoint there from which Resume continues exactly. It wraps the
// context's error.
type InterruptedError struct {
	Step       int    // optimizer steps taken
	Checkpoint string // the checkpoint written at Step ("" if no step was taken)
	Err        error  // the context's error
}

func (e *InterruptedError) Error() string {
	if e.Checkpoint == "" {
		return fmt.Sprintf("interrupted before the first step (%v): nothing to save", e.Err)
	}
	return fmt.Sprintf("interrupted after step %d (%v): checkpoint written to %s; resume to continue exactly", e.Step, e.Err, e.Checkpoint)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// Event tells an observer what the trainer just did.
type Event struct {
	Kind       string // "step", "eval" or "checkpoint"
	Record     Record // for "step" and "eval"
	Total      int    // optimizer steps in the run
	StepTokens int    // input tokens of this step ("step")
	Dir        string // the checkpoint written ("checkpoint")
}

// Trainer runs the optimisation loop. Set the exported fields, optionally
// call Resume, then Run.
type Trainer struct {
	Config Config
	Model  model.CausalLM
	Target Target
	Train  Batches
	// Eval are the evaluation batches; none: no evaluation.
	Eval []data.Batch
	// EvalBeforeTraining evaluates once at step 0 of a new run, so the
	// log and the loss curve start from the untrained model.
	EvalBeforeTraining bool
	// OutputDir receives metrics.jsonl, the checkpoints, and at the end the
	// trained artefact and trainer_state.json. It must exist.
	OutputDir string
	// Observe, if set, sees every step, evaluation and checkpoint.
	Observe func(Event)
	// Replicas is how many replicas of the model split each step's rows
	// and run concurrently (see Parallel): 0 means one per
	// kernels.Threads() where the model can be replicated and gradient
	// checkpointing is off (replicas recompute their blocks side by side,
	// which costs memory), else 1;
	// 1 runs every step on the model alone.
	Replicas int
	// Fingerprint identifies every input that changes the result besides
	// Config (model, data, settings), one entry per input, e.g. "model" →
	// a hash of its files, "max_seq_length" → "64". Checkpoints keep it;
	// Resume refuses a checkpoint whose fingerprint differs, naming the
	// inputs that changed, unless IgnoreChanges is set (then it logs them).
	Fingerprint   map[string]string
	IgnoreChanges bool

	opt       *AdamW
	parallel  *Parallel
	used      int // replicas the last Run ran on
	state     State
	resumed   bool
	lastCkpt  string
	ce        nn.CrossEntropy
	start     time.Time
	sinceLog  time.Time
	tokensLog int64
}

// State returns the run's state so far.
func (t *Trainer) State() State { return t.state }

func (t *Trainer) setup() error {
	if err := t.Config.Validate(); err != nil {
		return err
	}
	if t.Model == nil || t.Target == nil || t.Train == nil {
		return fmt.Errorf("train: Trainer needs a Model, a Target and Train batches")
	}
	if t.Config.GradientCheckpointing {
		if err := model.SetGradientCheckpointing(t.Model, true); err != nil {
			return fmt.Errorf("train: gradient_checkpointing: %w", err)
		}
	}
	if t.opt == nil {
		params := t.Target.Params()
		if len(params) == 0 {
			return fmt.Errorf("train: nothing to train: the target has no parameters")
		}
		opt, err := NewAdamW(params, t.Config.AdamBeta1, t.Config.AdamBeta2, t.Config.AdamEpsilon, t.Config.WeightDecay)
		if err != nil {
			return err
		}
		t.opt = opt
	}
	total := t.Config.TotalSteps(t.Train.StepsPerEpoch())
	if !t.resumed {
		t.state = State{MaxSteps: total, Config: t.Config, LogHistory: []Record{}, Fingerprint: t.Fingerprint}
	} else if t.state.MaxSteps != total {
		return fmt.Errorf("train: the checkpoint's run has %d steps but this one would have %d: resume with the same data, batch size, epochs and max_steps", t.state.MaxSteps, total)
	}
	return nil
}

// setupParallel makes the replicas the steps run on (see Replicas).
func (t *Trainer) setupParallel() error {
	if t.parallel != nil {
		return nil
	}
	n := DefaultReplicas(t.Replicas, t.Config.GradientCheckpointing)
	p, err := NewParallel(t.Model, n)
	switch {
	case err != nil && n > 1:
		return err
	case err != nil:
		slog.Info("data-parallel steps off: every step runs on the model alone", "reason", err)
		p, _ = NewParallel(t.Model, 1)
	case p.Replicas() > 1:
		slog.Debug("data-parallel steps", "replicas", p.Replicas())
	}
	t.parallel, t.used = p, p.Replicas()
	return nil
}

// UsedReplicas reports how many replicas the last Run split its steps
// among (0 before a Run).
func (t *Trainer) UsedReplicas() int { return t.used }

// Run trains until the configured number of steps, then evaluates (if
// there is an evaluation set and the last step did not), writes the
// trained artefact and trainer_state.json into OutputDir, and returns the
// final state. Cancelling ctx stops the run between two steps: Run writes
// a checkpoint at the current step (unless one is there) and returns an
// *InterruptedError; Resume from that checkpoint finishes bit-identical to
// a run never interrupted.
func (t *Trainer) Run(ctx context.Context) (State, error) {
	if err := t.setup(); err != nil {
		return State{}, err
	}
	if err := RemoveTemporary(t.OutputDir); err != nil {
		return State{}, err
	}
	if err := t.openMetrics(); err != nil {
		return State{}, err
	}
	total := t.state.MaxSteps
	sched := Schedule{Kind: t.Config.LRSchedulerType, WarmupSteps: t.Config.WarmupSteps, TotalSteps: total}
	t.start, t.sinceLog, t.tokensLog = time.Now(), time.Now(), t.state.NumTokens
	t.Target.SetTraining(true)
	defer t.Target.SetTraining(false)
	if err := t.setupParallel(); err != nil {
		return t.state, err
	}
	defer func() {
		t.parallel.Close()
		t.parallel = nil
	}()
	accum := t.Config.GradientAccumulationSteps
	stepsPerEpoch := float64(t.Train.StepsPerEpoch())
	evaluatedAt := -1
	if t.EvalBeforeTraining && len(t.Eval) > 0 && t.state.GlobalStep == 0 {
		if err := t.evaluate(); err != nil {
			return t.state, err
		}
	}
	for t.state.GlobalStep < total {
		if err := ctx.Err(); err != nil {
			return t.state, t.interrupt(err)
		}
		step := t.state.GlobalStep + 1
		batches := make([]data.Batch, accum)
		for i := range batches {
			batches[i] = t.Train.Next()
		}
		lr := t.Config.LearningRate * sched.Factor(step-1)
		res, err := t.parallel.Step(t.opt, batches, lr, t.Config.MaxGradNorm)
		var nf *NonFiniteError
		switch {
		case errors.As(err, &nf):
			nf.Step, nf.Checkpoint = step, t.lastCkpt
			return t.state, nf
		case err != nil:
			return t.state, fmt.Errorf("train: step %d: %w", step, err)
		}
		loss, norm, stepTokens := res.Loss, res.GradNorm, res.Tokens

		t.state.GlobalStep = step
		t.state.NumTokens += int64(stepTokens)
		t.state.DataPosition = t.Train.Position()
		t.state.Epoch = float64(step*accum) / stepsPerEpoch
		if t.Config.LoggingSteps > 0 && (step%t.Config.LoggingSteps == 0 || step == total) || t.Config.LoggingSteps == 0 && step == total {
			r := t.record()
			r.Loss, r.LearningRate, r.GradNorm = &loss, &lr, &norm
			now := time.Now()
			if dt := now.Sub(t.sinceLog).Seconds(); dt > 0 {
				tps := float64(t.state.NumTokens-t.tokensLog) / dt
				r.TokensPerS = &tps
			}
			t.sinceLog, t.tokensLog = now, t.state.NumTokens
			if err := t.emit(r); err != nil {
				return t.state, err
			}
		}
		if t.Observe != nil {
			r := t.record()
			r.Loss, r.LearningRate, r.GradNorm = &loss, &lr, &norm
			t.Observe(Event{Kind: "step", Record: r, Total: total, StepTokens: stepTokens})
		}
		if len(t.Eval) > 0 && t.Config.EvalSteps > 0 && step%t.Config.EvalSteps == 0 {
			if err := t.evaluate(); err != nil {
				return t.state, err
			}
			evaluatedAt = step
		}
		if t.Config.SaveSteps > 0 && step%t.Config.SaveSteps == 0 && step < total {
			if err := t.checkpoint(); err != nil {
				return t.state, err
			}
		}
	}
	if len(t.Eval) > 0 && evaluatedAt != t.state.GlobalStep {
		if err := t.evaluate(); err != nil {
			return t.state, err
		}
	}
	t.Target.SetTraining(false)
	if err := t.Target.Save(t.OutputDir); err != nil {
		return t.state, fmt.Errorf("train: saving to %s: %w", t.OutputDir, err)
	}
	if err := writeJSON(filepath.Join(t.OutputDir, StateFile), t.state); err != nil {
		return t.state, err
	}
	return t.state, nil
}

// interrupt saves a checkpoint at the current step for a cancelled run.
func (t *Trainer) interrupt(cause error) error {
	e := &InterruptedError{Step: t.state.GlobalStep, Err: cause}
	if e.Step == 0 {
		return e
	}
	e.Checkpoint = filepath.Join(t.OutputDir, CheckpointPrefix+strconv.Itoa(e.Step))
	if t.lastCkpt != e.Checkpoint {
		if err := t.checkpoint(); err != nil {
			return fmt.Errorf("train: interrupted after step %d, and saving a checkpoint failed: %w", e.Step, err)
		}
	}
	return e
}

func (t *Trainer) record() Record {
	return Record{Step: t.state.GlobalStep, Epoch: t.state.Epoch, NumTokens: t.state.NumTokens, ElapsedS: time.Since(t.start).Seconds()}
}

func (t *Trainer) evaluate() error {
	t.Target.SetTraining(false)
	defer t.Target.SetTraining(true)
	res, err := Evaluate(t.Model, t.Eval)
	if err != nil {
		return fmt.Errorf("train: evaluation at step %d: %w", t.state.GlobalStep, err)
	}
	r := t.record()
	r.EvalLoss, r.EvalPerplexity, r.EvalTokens = &res.Loss, &res.Perplexity, res.Tokens
	if t.state.BestEvalLoss == nil || res.Loss < *t.state.BestEvalLoss {
		best := res.Loss
		t.state.BestEvalLoss = &best
	}
	if t.Observe != nil {
		t.Observe(Event{Kind: "eval", Record: r, Total: t.state.MaxSteps})
	}
	return t.emit(r)
}

// emit appends r to the log history and to metrics.jsonl.
func (t *Trainer) emit(r Record) error {
	t.state.LogHistory = append(t.state.LogHistory, r)
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(t.OutputDir, MetricsFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("train: %w", err)
	}
	return f.Close()
}

// openMetrics makes metrics.jsonl agree with the state: empty for a new
// run, the records up to the resumed step for a resumed one.
func (t *Trainer) openMetrics() error {
	path := filepath.Join(t.OutputDir, MetricsFile)
	return writeLines(path, t.state.LogHistory)
}

func writeLines(path string, records []Record) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, r := range records {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	if err := atomicfile.WriteBytes(path, b.Bytes()); err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	return nil
}

// EvalResult is the mean next-token loss over an evaluation set, and how
// many of its sequences the model reproduces exactly.
type EvalResult struct {
	Loss       float64 // mean over target tokens
	Perplexity float64 // exp(Loss)
	Tokens     int     // target tokens counted
	// Sequences are the rows with at least one target token, and
	// ExactMatch those whose every target token is the model's most likely
	// next token given the row before it (the lowest id on ties, as greedy
	// decoding picks). When a row's targets are one run at its end — a
	// prompt/completion record, a conversation's last answer — that is
	// exactly the row whose greedy continuation of the prompt reproduces
	// the completion token for token (up to floating-point near-ties
	// between a full forward and a cached one).
	Sequences  int
	ExactMatch int
}

// ExactMatchRate returns ExactMatch / Sequences (0 when no row has a
// target).
func (r EvalResult) ExactMatchRate() float64 {
	if r.Sequences == 0 {
		return 0
	}
	return float64(r.ExactMatch) / float64(r.Sequences)
}

// Evaluate runs the model over batches (forward only) and returns the
// mean next-token loss over every target token and the sequences the
// model reproduces exactly (see EvalResult).
func Evaluate(m model.CausalLM, batches []data.Batch) (EvalResult, error) {
	var ce nn.CrossEntropy
	var sum float64
	count := 0
	var res EvalResult
	for i, b := range batches {
		logits, err := m.Forward(b.InputIDs)
		if err != nil {
			return EvalResult{}, fmt.Errorf("batch %d: %w", i, err)
		}
		targets := b.Targets()
		seqs, exact := exactRows(logits, targets, len(b.InputIDs))
		res.Sequences += seqs
		res.ExactMatch += exact
		loss, n, err := ce.Forward(logits, targets)
		if err != nil {
			return EvalResult{}, fmt.Errorf("batch %d: %w", i, err)
		}
		if n > 0 {
			sum += loss * float64(n)
			count += n
		}
	}
	if count == 0 {
		return EvalResult{}, fmt.Errorf("no target tokens to evaluate")
	}
	loss := sum / float64(count)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return EvalResult{}, fmt.Errorf("the evaluation loss is %v: the model's outputs are not finite (check its weights and the adapter's tensors)", loss)
	}
	res.Loss, res.Perplexity, res.Tokens = loss, math.Exp(loss), count
	return res, nil
}

// exactRows counts the rows of a batch with a target, and those whose
// every target is the arg-max of its logits; logits are [rows*seq, vocab]
// and targets [rows*seq] (data.Batch.Targets).
func exactRows(logits *tensor.Tensor, targets []int, rows int) (seqs, exact int) {
	if rows == 0 || len(targets) == 0 {
		return 0, 0
	}
	seq, vocab := len(targets)/rows, logits.Len()/len(targets)
	for r := range rows {
		has, all := false, true
		for t := r * seq; t < (r+1)*seq && all; t++ {
			if targets[t] == data.IgnoreIndex {
				continue
			}
			has = true
			all = tensor.Argmax(logits.Data[t*vocab:(t+1)*vocab]) == targets[t]
		}
		if has {
			seqs++
			if all {
				exact++
			}
		}
	}
	return seqs, exact
}
