package main

import (
	"errors"
	"fmt"
	"github.com/orthotune/orthotune/finetune"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/safetensors"
)

const mergeSynopsis = "merge --model DIR --adapter DIR --out DIR\n\n" +
	"Folds the adapter into the base weights and writes a Hugging Face model directory that loads with\n" +
	"no adapter: config.json and the tokenizer files present (tokenizer.json, tokenizer_config.json,\n" +
	"special_tokens_map.json, vocab.json, merges.txt, tokenizer.model, generation_config.json,\n" +
	"chat_template.jinja) are " +
	"copied; model.safetensors holds every tensor of the source checkpoint under its own name and in\n" +
	"its own dtype (F32, F16 or BF16; merged weights are rounded to it), buffers the model does not use\n" +
	"copied unchanged. A sharded checkpoint is written as a single model.safetensors. --out must not\n" +
	"exist or be empty; the directory is built beside it and renamed into place, so a failure leaves\n" +
	"nothing behind."

func runMerge(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("merge")
	modelDir := fs.String("model", "", "Hugging Face model directory (config.json + safetensors weights)")
	adapterDir := fs.String("adapter", "", "PEFT adapter directory (adapter_config.json + adapter_model.safetensors) to fold into the model")
	loadOptions := loadFlags(fs)
	out := fs.String("out", "", "new (or empty) directory for the merged model")
	if _, err := parseFlags(fs, mergeSynopsis, args, 0, 0, stdout, stderr); err != nil {
		return err
	}
	if err := requireFlags(fs, mergeSynopsis, stderr, "model", "adapter", "out"); err != nil {
		return err
	}
	dest := filepath.Clean(*out)
	if err := checkNewDir(dest); err != nil {
		return err
	}
	opts, err := loadOptions()
	if err != nil {
		return err
	}
	pm, a, err := finetune.LoadAdapted(*modelDir, *adapterDir, opts...)
	if err != nil {
		return err
	}
	if err := pm.Merge(); err != nil {
		return fmt.Errorf("%s: %w", *adapterDir, err)
	}
	ckpt, err := safetensors.OpenCheckpoint(*modelDir)
	if err != nil {
		return err
	}
	defer ckpt.Close()

	// Build the directory beside dest and rename it into place at the end,
	// so a failure leaves nothing behind; first remove what killed merges
	// to the same place left.
	removeStaleBuilds(dest)
	tmp, err := os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return fmt.Errorf("--out %s: %w", dest, err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	entries, copied, err := model.WriteDir(pm, ckpt, tmp)
	if err != nil {
		return err
	}
	if err := checkNewDir(dest); err != nil { // something appeared meanwhile
		return err
	}
	if err := os.Remove(dest); err != nil && !errors.Is(err, iofs.ErrNotExist) { // an empty directory
		return fmt.Errorf("--out %s: %w", dest, err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("--out %s: %w", dest, err)
	}
	done = true

	dtypes := map[safetensors.DType]int{}
	for _, e := range entries {
		dtypes[e.DType]++
	}
	var dts []string
	for dt, n := range dtypes {
		dts = append(dts, fmt.Sprintf("%s×%d", dt, n))
	}
	sort.Strings(dts)
	fmt.Fprintf(stdout, "merged %s adapter (%d layers) into %s; wrote %d tensors (%s) and %s to %s\n",
		a.Config.Base().PeftType, len(a.Modules), *modelDir, len(entries), strings.Join(dts, ", "), strings.Join(copied, ", "), dest)
	return nil
}

// removeStaleBuilds removes the .NAME.tmp-* directories beside dest that a
// merge killed before its rename left.
func removeStaleBuilds(dest string) {
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*"))
	for _, dir := range stale {
		if err := os.RemoveAll(dir); err == nil {
			slog.Info("removed the unfinished output of an earlier merge", "dir", dir)
		}
	}
}

// checkNewDir accepts a path that does not exist or is an empty directory.
func checkNewDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		return nil
	case err != nil:
		if fi, serr := os.Stat(dir); serr == nil && !fi.IsDir() {
			return fmt.Errorf("--out %s exists and is not a directory; want a new or empty directory", dir)
		}
		return fmt.Errorf("--out %s: %w", dir, err)
	case len(entries) > 0:
		return fmt.Errorf("--out %s exists and is not empty (it holds %s); refusing to overwrite it: choose a new or empty directory", dir, entries[0].Name())
	}
	return nil
}
