package main

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/safetensors"
)

const mergeSynopsis = "merge --model DIR --adapter DIR --out DIR\n\n" +
	"Folds the adapter into the base weights and writes a Hugging Face model directory that loads with\n" +
	"no adapter: config.json and the tokenizer files present (tokenizer.json, tokenizer_config.json,\n" +
	"special_tokens_map.json, vocab.json, merges.txt, tokenizer.model, generation_config.json) are\n" +
	"copied; model.safetensors holds every tensor of the source checkpoint under its own name and in\n" +
	"its own dtype (F32, F16 or BF16; merged weights are rounded to it), buffers the model does not use\n" +
	"copied unchanged. A sharded checkpoint is written as a single model.safetensors. --out must not\n" +
	"exist or be empty; the directory is built beside it and renamed into place, so a failure leaves\n" +
	"nothing behind."

// copiedFiles are copied from the model directory to the merged one when
// present, besides config.json (which must be there).
var copiedFiles = []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
	"merges.txt", "tokenizer.model", "generation_config.json"}

func runMerge(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("merge")
	modelDir := fs.String("model", "", "Hugging Face model directory (config.json + safetensors weights)")
	adapterDir := fs.String("adapter", "", "PEFT adapter directory (adapter_config.json + adapter_model.safetensors) to fold into the model")
	series := seriesFlag(fs)
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
	pm, a, err := loadAdapted(*modelDir, *adapterDir, *series)
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
	entries, err := checkpointEntries(pm, ckpt)
	if err != nil {
		return err
	}

	// Build the directory beside dest and rename it into place at the end,
	// so a failure leaves nothing behind.
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
	if err := safetensors.Write(filepath.Join(tmp, safetensors.SingleFileName), entries, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	copied := []string{"config.json"}
	if err := copyFile(filepath.Join(*modelDir, "config.json"), filepath.Join(tmp, "config.json")); err != nil {
		return err
	}
	for _, name := range copiedFiles {
		src := filepath.Join(*modelDir, name)
		if _, err := os.Stat(src); errors.Is(err, iofs.ErrNotExist) {
			continue
		}
		if err := copyFile(src, filepath.Join(tmp, name)); err != nil {
			return err
		}
		copied = append(copied, name)
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

// checkpointEntries lists every tensor of the source checkpoint under its
// own name and dtype: the model's (merged) weights where the name is one of
// them, every other tensor (buffers such as GPT-2's attn.bias) unchanged.
func checkpointEntries(m model.CausalLM, ckpt *safetensors.Checkpoint) ([]safetensors.Entry, error) {
	params := m.Params()
	byName := map[string]*nn.Param{}
	for _, p := range params {
		byName[p.Name] = p
	}
	// A linear layer's weight and bias are also known by its module name:
	// that is how a checkpoint may store a tied head ("lm_head.weight"
	// beside "model.embed_tokens.weight").
	bySlot := map[string]*nn.Param{}
	for _, s := range m.Linears() {
		bySlot[s.Name+".weight"] = s.Base.Weight
		if s.Base.Bias != nil {
			bySlot[s.Name+".bias"] = s.Base.Bias
		}
	}
	written := map[*nn.Param]bool{}
	var entries []safetensors.Entry
	for _, name := range ckpt.Names() {
		info, _ := ckpt.Info(name)
		p := byName[name]
		if p == nil {
			p = bySuffix(params, name) // GPT-2 files without "transformer."
		}
		if p == nil {
			p = bySlot[name]
		}
		if p != nil {
			if !info.DType.IsFloat() || !slices.Equal(info.Shape, p.W.Shape) {
				return nil, fmt.Errorf("%s: tensor %q is %s %v but the model's %s is float %v", ckpt.FileOf(name), name, info.DType, info.Shape, p.Name, p.W.Shape)
			}
			entries = append(entries, safetensors.Entry{Name: name, DType: info.DType, Shape: info.Shape, Float: p.W.Data})
			written[p] = true
			continue
		}
		switch {
		case info.DType.IsFloat():
			t, err := ckpt.Float32(name)
			if err != nil {
				return nil, err
			}
			entries = append(entries, safetensors.Entry{Name: name, DType: info.DType, Shape: info.Shape, Float: t.Data})
		case info.DType.IsInt():
			v, shape, err := ckpt.Int64(name)
			if err != nil {
				return nil, err
			}
			entries = append(entries, safetensors.Entry{Name: name, DType: info.DType, Shape: shape, Int: v})
		default:
			return nil, fmt.Errorf("%s: tensor %q has dtype %s, which orthotune cannot copy into the merged checkpoint", ckpt.FileOf(name), name, info.DType)
		}
	}
	for _, p := range params {
		if !written[p] {
			return nil, fmt.Errorf("%s: the model's weight %q has no tensor in the checkpoint to write it under", ckpt.Dir(), p.Name)
		}
	}
	return entries, nil
}

// bySuffix returns the one parameter whose name ends in "." + name, or nil
// when none or several do.
func bySuffix(params []*nn.Param, name string) *nn.Param {
	var found *nn.Param
	for _, p := range params {
		if strings.HasSuffix(p.Name, "."+name) {
			if found != nil {
				return nil
			}
			found = p
		}
	}
	return found
}

// copyFile copies src to dst (a new file).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return out.Close()
}
