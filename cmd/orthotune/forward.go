package main

import (
	"fmt"
	"io"
	"math"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/safetensors"
)

const forwardSynopsis = "forward --model DIR --input IDS.json --out OUT.safetensors"

func runForward(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("forward")
	modelDir := fs.String("model", "", "Hugging Face model directory (config.json + safetensors weights)")
	input := fs.String("input", "", `token ids as JSON: {"input_ids": [[...], ...]} (rows of equal length, at least 2 tokens)`)
	out := fs.String("out", "", "output safetensors file: logits F32 [batch, seq, vocab] and loss F32 [1]")
	if _, err := parseFlags(fs, forwardSynopsis, args, 0, 0, stdout, stderr); err != nil {
		return err
	}
	if err := requireFlags(fs, forwardSynopsis, stderr, "model", "input", "out"); err != nil {
		return err
	}
	ids, err := readIDs(*input)
	if err != nil {
		return err
	}
	m, err := model.Load(*modelDir)
	if err != nil {
		return err
	}
	logits, err := m.Forward(ids)
	if err != nil {
		return fmt.Errorf("%s: %w", *input, err)
	}
	if len(ids[0]) < 2 {
		return fmt.Errorf("%s: input_ids rows have 1 token; the next-token loss needs at least 2", *input)
	}
	var ce nn.CrossEntropy
	loss, count, err := ce.Forward(logits, nn.ShiftedTargets(ids))
	if err != nil {
		return fmt.Errorf("%s: %w", *input, err)
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return fmt.Errorf("loss is %v: the model's logits are not finite (check the weights in %s)", loss, *modelDir)
	}
	entries := []safetensors.Entry{
		{Name: "logits", DType: safetensors.F32, Shape: logits.Shape, Float: logits.Data},
		{Name: "loss", DType: safetensors.F32, Shape: []int{1}, Float: []float32{float32(loss)}},
	}
	if err := safetensors.Write(*out, entries, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "loss %.6f over %d predicted tokens; logits %v written to %s\n", loss, count, logits.Shape, *out)
	return nil
}
