package finetune

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// fingerprint identifies every input of a run that changes its result:
// the model's files and the data by content, every setting by value.
// Settings that change only what is logged or kept (logging, evaluation
// and saving intervals, gradient checkpointing, the evaluation batch
// size) and the paths themselves are left out.
func fingerprint(job Job, settings map[string]any) (map[string]string, error) {
	fp := map[string]string{}
	h, err := hashModelDir(job.Model)
	if err != nil {
		return nil, err
	}
	fp["model"] = h
	if fp["data"], err = hashFile(job.Data); err != nil {
		return nil, err
	}
	if job.EvalData != "" {
		if fp["eval_data"], err = hashFile(job.EvalData); err != nil {
			return nil, err
		}
	}
	skip := map[string]bool{"model": true, "data": true, "eval_data": true, "logging_steps": true, "eval_steps": true,
		"save_steps": true, "save_total_limit": true, "gradient_checkpointing": true, "per_device_eval_batch_size": true}
	for k, v := range settings {
		if !skip[k] {
			fp[k] = fmt.Sprint(v)
		}
	}
	return fp, nil
}

// ContentHash identifies what a path holds by content: for a model
// directory its config.json and weights (as a run's fingerprint does),
// for a file its bytes; "sha256:<hex>".
func ContentHash(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return hashModelDir(path)
	}
	return hashFile(path)
}

// hashModelDir hashes config.json and every safetensors file (and shard
// index) of a model directory, in name order.
func hashModelDir(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if n == "config.json" || strings.HasSuffix(n, ".safetensors") || n == "model.safetensors.index.json" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	sum := sha256.New()
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(sum, "%s\x00", n)
		_, err = io.Copy(sum, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("%s: %w", filepath.Join(dir, n), err)
		}
	}
	return "sha256:" + hex.EncodeToString(sum.Sum(nil)), nil
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(sum.Sum(nil)), nil
}
