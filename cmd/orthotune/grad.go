package main

import (
	"fmt"
	"github.com/orthotune/orthotune/finetune"
	"io"

	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/safetensors"
)

const gradSynopsis = "grad --model DIR --adapter DIR --input IDS.json --out GRADS.safetensors"

// runGrad writes dL/dθ for every adapter tensor θ, L the mean next-token
// cross-entropy, under the adapter file's own keys.
func runGrad(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("grad")
	modelDir := fs.String("model", "", "Hugging Face model directory (config.json + safetensors weights)")
	adapterDir := fs.String("adapter", "", "PEFT adapter directory (adapter_config.json + adapter_model.safetensors)")
	loadOptions := loadFlags(fs)
	input := fs.String("input", "", `token ids as JSON: {"input_ids": [[...], ...]} (rows of equal length, at least 2 tokens)`)
	out := fs.String("out", "", "output safetensors file: one F32 gradient per adapter tensor, under the adapter_model.safetensors key (dropout off)")
	if _, err := parseFlags(fs, gradSynopsis, args, 0, 0, stdout, stderr); err != nil {
		return err
	}
	if err := requireFlags(fs, gradSynopsis, stderr, "model", "adapter", "input", "out"); err != nil {
		return err
	}
	ids, err := readIDs(*input)
	if err != nil {
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
	a.SetTrainable(true) // gradients without dropout: evaluation semantics, as PEFT's references
	var ce nn.CrossEntropy
	_, loss, count, err := nextTokenLoss(pm, ids, *input, *modelDir, &ce)
	if err != nil {
		return err
	}
	pm.Backward(ce.Backward(1))
	var entries []safetensors.Entry
	values := 0
	for _, p := range a.Params() {
		g := p.Param.Grad
		entries = append(entries, safetensors.Entry{Name: p.Key, DType: safetensors.F32, Shape: g.Shape, Float: g.Data})
		values += g.Len()
	}
	if err := safetensors.Write(*out, entries, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "loss %.6f over %d predicted tokens; gradients of %d adapter tensors (%d values) written to %s\n",
		loss, count, len(entries), values, *out)
	return nil
}
