package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"

	"github.com/orthotune/orthotune/internal/atomicfile"
)

// StudyData are the inputs of the built-in study (`orthotune compare`
// with no arguments): the demo's base model, its task and its held-out
// corpus as retain data.
type StudyData struct {
	BaseDir    string // the pretrained base model (cached)
	TaskTrain  string // task training data, JSONL
	TaskEval   string // task evaluation data (a lead-in training never shows)
	RetainData string // held-out corpus text the base model was evaluated on
}

// Prepare returns the built-in study's inputs: it pretrains the base model
// into opt.CacheDir unless a usable one is cached there (opt.Rebuild:
// again), and writes the task's data next to it. Only CacheDir, Rebuild,
// PretrainSteps, Log and Reporter of opt are used. The files are the same
// bytes every time.
func Prepare(ctx context.Context, opt Options) (StudyData, error) {
	if opt.PretrainSteps == 0 {
		opt.PretrainSteps = 200
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	baseDir := filepath.Join(opt.CacheDir, Version)
	if opt.Rebuild {
		if err := os.RemoveAll(baseDir); err != nil {
			return StudyData{}, err
		}
	}
	if err := checkBase(baseDir); err != nil {
		if !errors.Is(err, iofs.ErrNotExist) {
			fmt.Fprintf(opt.Log, "demo: the cached base model in %s is unusable (%v); rebuilding it\n", baseDir, err)
		}
		fmt.Fprintf(opt.Log, "demo: pretraining the base model (once; cached in %s)\n", baseDir)
		if err := buildBase(ctx, baseDir, opt); err != nil {
			return StudyData{}, err
		}
	} else {
		fmt.Fprintf(opt.Log, "demo: using the pretrained base model cached in %s\n", baseDir)
	}
	d := StudyData{BaseDir: baseDir, TaskTrain: filepath.Join(baseDir, "task_train.jsonl"),
		TaskEval: filepath.Join(baseDir, "task_eval.jsonl"), RetainData: filepath.Join(baseDir, "corpus_eval.jsonl")}
	taskTrain, taskEval := Task(4)
	if err := writeIfChanged(d.TaskTrain, taskTrain); err != nil {
		return StudyData{}, err
	}
	if err := writeIfChanged(d.TaskEval, taskEval); err != nil {
		return StudyData{}, err
	}
	return d, nil
}

// writeIfChanged writes records as JSONL (as writeJSONL does) unless path
// already holds exactly those bytes, so that a study reading the file is
// never raced by a rewrite.
func writeIfChanged[T any](path string, records []T) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, r := range records {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	if got, err := os.ReadFile(path); err == nil && bytes.Equal(got, b.Bytes()) {
		return nil
	}
	return atomicfile.WriteBytes(path, b.Bytes())
}
