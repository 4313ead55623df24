package finetune

import (
	"bytes"
	"fmt"
	"path/filepath"

	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/internal/atomicfile"
	"github.com/orthotune/orthotune/internal/plot"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/train"
)

// LoadAdapted loads the model in modelDir and attaches the PEFT adapter in
// adapterDir as the active adapter AdapterName. Messages name the file and
// the field, tensor or layer at fault.
func LoadAdapted(modelDir, adapterDir string, opts ...peft.LoadOption) (*peft.Model, *peft.Adapter, error) {
	m, err := model.Load(modelDir)
	if err != nil {
		return nil, nil, err
	}
	pm := peft.Wrap(m)
	a, err := pm.Load(AdapterName, adapterDir, opts...)
	if err != nil {
		return nil, nil, err
	}
	return pm, a, nil
}

// LoadForInference loads a model and, when adapterDir is set, installs the
// adapter as the active one with dropout off.
func LoadForInference(modelDir, adapterDir string, opts ...peft.LoadOption) (model.CausalLM, error) {
	if adapterDir == "" {
		return model.Load(modelDir)
	}
	pm, a, err := LoadAdapted(modelDir, adapterDir, opts...)
	if err != nil {
		return nil, err
	}
	a.SetTraining(false)
	return pm, nil
}

// EvalBatches reads a JSONL data set with the tokenizer in modelDir into
// batches of batchSize in file order, truncated to maxSeq tokens (0:
// min(1024, the model's context)), and returns them with the file's
// statistics (records, tokens, record format).
func EvalBatches(m model.CausalLM, modelDir, path string, maxSeq, batchSize int) ([]data.Batch, data.Stats, error) {
	return evalBatches(m, modelDir, path, maxSeq, batchSize, nil)
}

// evalBatches is EvalBatches with further chat template variables (see
// Job.ChatTemplateKwargs).
func evalBatches(m model.CausalLM, modelDir, path string, maxSeq, batchSize int, templateVars map[string]any) ([]data.Batch, data.Stats, error) {
	if err := CheckTemplateVars(templateVars); err != nil {
		return nil, data.Stats{}, err
	}
	info := m.Info()
	tok, err := LoadTokenizer(modelDir, info.Vocab)
	if err != nil {
		return nil, data.Stats{}, err
	}
	if maxSeq == 0 {
		maxSeq = min(1024, info.MaxPositions)
	}
	if info.MaxPositions > 0 && maxSeq > info.MaxPositions {
		return nil, data.Stats{}, fmt.Errorf("max_seq_length %d exceeds the model's context of %d positions (%s)", maxSeq, info.MaxPositions, filepath.Join(modelDir, "config.json"))
	}
	opts := data.Options{MaxSeqLength: maxSeq, VocabSize: info.Vocab}
	if tok != nil {
		r := NewChatRenderer(tok)
		r.SetTemplateVars(templateVars)
		opts.Tokenizer, opts.Chat = tok, r
	}
	examples, stats, err := data.ReadJSONL(path, opts)
	if err != nil {
		return nil, data.Stats{}, err
	}
	return InOrder(examples, batchSize, PadID(tok)), stats, nil
}

// InOrder batches examples in file order, one pass (evaluation sets).
func InOrder(examples []data.Example, batchSize, padID int) []data.Batch {
	l := data.NewLoader(examples, batchSize, false, 0, padID)
	out := make([]data.Batch, l.StepsPerEpoch())
	for i := range out {
		out[i] = l.Next()
	}
	return out
}

// EvalJob is the evaluation of a model, optionally through an adapter, on
// a JSONL data set.
type EvalJob struct {
	Model        string            // Hugging Face model directory
	Adapter      string            // PEFT adapter directory, "" for the model alone
	Data         string            // JSONL data, any of the training record formats
	MaxSeqLength int               // 0: min(1024, the model's context)
	BatchSize    int               // sequences per batch
	LoadOptions  []peft.LoadOption // applied to the adapter's config
	// ChatTemplateKwargs are further chat template variables for
	// "messages" records, as Job.ChatTemplateKwargs.
	ChatTemplateKwargs map[string]any
}

// EvalReport is an evaluation's result.
type EvalReport struct {
	train.EvalResult
	Examples int
	// Format is the data's record format ("text", "prompt/completion",
	// "messages", "input_ids"); EvalResult's exact matches are answers
	// reproduced by greedy decoding when it is AnswerFormat.
	Format string
}

// AnswerFormat reports whether records of a data format end in an answer
// that greedy decoding of the rest reproduces exactly when
// train.EvalResult counts the row as an exact match: prompt/completion
// records, and conversations (every assistant turn given the turns before
// it).
func AnswerFormat(format string) bool { return format == "prompt/completion" || format == "messages" }

// Evaluate loads the model (and adapter) and returns the mean next-token
// loss over every target token of the data (completions only for
// prompt/completion records).
func Evaluate(job EvalJob) (EvalReport, error) {
	if job.BatchSize < 1 {
		return EvalReport{}, fmt.Errorf("per_device_eval_batch_size %d: want ≥ 1", job.BatchSize)
	}
	m, err := LoadForInference(job.Model, job.Adapter, job.LoadOptions...)
	if err != nil {
		return EvalReport{}, err
	}
	batches, stats, err := evalBatches(m, job.Model, job.Data, job.MaxSeqLength, job.BatchSize, job.ChatTemplateKwargs)
	if err != nil {
		return EvalReport{}, err
	}
	res, err := train.Evaluate(m, batches)
	if err != nil {
		return EvalReport{}, fmt.Errorf("%s: %w", job.Data, err)
	}
	return EvalReport{EvalResult: res, Examples: stats.Records, Format: stats.Format}, nil
}

// LossPlotFile is the loss-curve picture written into a training run's
// output directory.
const LossPlotFile = "loss.svg"

// WriteLossPlot draws the training loss per step and the evaluation loss
// from a run's log into dir/loss.svg, titled with the run's name; each
// evaluation is marked with a dot, so two evaluations do not read as a
// curve.
func WriteLossPlot(dir string, records []train.Record, name string) error {
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
		series = append(series, plot.Series{Name: "evaluation loss", Points: evalPts, Dashed: true, Markers: true})
	}
	c := plot.Chart{Title: name + ": next-token loss", XLabel: "optimizer step", YLabel: "loss (nats/token)", Width: 800, Height: 450}
	var buf bytes.Buffer
	if err := c.WriteSVG(&buf, series...); err != nil {
		return fmt.Errorf("%s: %w", LossPlotFile, err)
	}
	return atomicfile.WriteBytes(filepath.Join(dir, LossPlotFile), buf.Bytes())
}
