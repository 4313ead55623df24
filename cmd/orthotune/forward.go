package main

import (
	"fmt"
	"github.com/orthotune/orthotune/finetune"
	"io"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/safetensors"
)

const forwardSynopsis = "forward --model DIR [--adapter DIR [--merged]] --input IDS.json --out OUT.safetensors"

func runForward(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("forward")
	modelDir := fs.String("model", "", "Hugging Face model directory (config.json + safetensors weights)")
	adapterDir := fs.String("adapter", "", "PEFT adapter directory (adapter_config.json + adapter_model.safetensors) to run the model through")
	loadOptions := loadFlags(fs)
	merged := fs.Bool("merged", false, "fold the adapter into the base weights first and run the plain merged model (needs --adapter)")
	input := fs.String("input", "", `token ids as JSON: {"input_ids": [[...], ...]} (rows of equal length, at least 2 tokens)`)
	out := fs.String("out", "", "output safetensors file: logits F32 [batch, seq, vocab] and loss F32 [1]")
	if _, err := parseFlags(fs, forwardSynopsis, args, 0, 0, stdout, stderr); err != nil {
		return err
	}
	if err := requireFlags(fs, forwardSynopsis, stderr, "model", "input", "out"); err != nil {
		return err
	}
	if *merged && *adapterDir == "" {
		return usageError(fs, forwardSynopsis, stderr, "--merged needs --adapter")
	}
	ids, err := readIDs(*input)
	if err != nil {
		return err
	}
	var m model.CausalLM
	how := "base model"
	if *adapterDir == "" {
		if m, err = model.Load(*modelDir); err != nil {
			return err
		}
	} else {
		opts, err := loadOptions()
		if err != nil {
			return err
		}
		pm, a, err := finetune.LoadAdapted(*modelDir, *adapterDir, opts...)
		if err != nil {
			return err
		}
		how = fmt.Sprintf("%s adapter on %d layers", a.Config.Base().PeftType, len(a.Modules))
		if *merged {
			if err := pm.Merge(); err != nil {
				return fmt.Errorf("%s: %w", *adapterDir, err)
			}
			how += ", merged"
		}
		m = pm
	}
	var ce nn.CrossEntropy
	logits, loss, count, err := nextTokenLoss(m, ids, *input, *modelDir, &ce)
	if err != nil {
		return err
	}
	entries := []safetensors.Entry{
		{Name: "logits", DType: safetensors.F32, Shape: logits.Shape, Float: logits.Data},
		{Name: "loss", DType: safetensors.F32, Shape: []int{1}, Float: []float32{float32(loss)}},
	}
	if err := safetensors.Write(*out, entries, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "loss %.6f over %d predicted tokens (%s); logits %v written to %s\n", loss, count, how, logits.Shape, *out)
	return nil
}
