package model

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/safetensors"
)

// CompanionFiles are copied from a model directory into a directory
// written from it (merged or fully trained weights) when present, besides
// config.json, which must be there.
var CompanionFiles = []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
	"merges.txt", "tokenizer.model", "generation_config.json", "chat_template.jinja"}

// WriteDir writes m's current weights into dir, an existing directory,
// as a Hugging Face model directory laid out like the checkpoint m was
// loaded from: model.safetensors with every tensor of ckpt under its own
// name and dtype (see CheckpointEntries), config.json and the
// CompanionFiles present beside ckpt. It returns the tensors written and
// the files copied.
func WriteDir(m CausalLM, ckpt *safetensors.Checkpoint, dir string) ([]safetensors.Entry, []string, error) {
	entries, err := CheckpointEntries(m, ckpt)
	if err != nil {
		return nil, nil, err
	}
	if err := safetensors.Write(filepath.Join(dir, safetensors.SingleFileName), entries, map[string]string{"format": "pt"}); err != nil {
		return nil, nil, err
	}
	src := ckpt.Dir()
	copied := []string{"config.json"}
	if err := copyFile(filepath.Join(src, "config.json"), filepath.Join(dir, "config.json")); err != nil {
		return nil, nil, err
	}
	for _, name := range CompanionFiles {
		from := filepath.Join(src, name)
		if _, err := os.Stat(from); errors.Is(err, iofs.ErrNotExist) {
			continue
		}
		if err := copyFile(from, filepath.Join(dir, name)); err != nil {
			return nil, nil, err
		}
		copied = append(copied, name)
	}
	return entries, copied, nil
}

// CheckpointEntries lists every tensor of the source checkpoint under its
// own name and dtype: the model's (merged) weights where the name is one of
// them, every other tensor (buffers such as GPT-2's attn.bias) unchanged.
func CheckpointEntries(m CausalLM, ckpt *safetensors.Checkpoint) ([]safetensors.Entry, error) {
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
		if s.Base.BF16() {
			return nil, fmt.Errorf("model: %s: %w", s.Name, nn.ErrBF16)
		}
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
			p = paramBySuffix(params, name) // GPT-2 files without "transformer."
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

// paramBySuffix returns the one parameter whose name ends in "." + name, or nil
// when none or several do.
func paramBySuffix(params []*nn.Param, name string) *nn.Param {
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
