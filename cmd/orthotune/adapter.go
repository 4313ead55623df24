package main

import (
	"flag"
	"fmt"
	"io"
	"math"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/orth"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/peft/oft"
	"github.com/orthotune/orthotune/tensor"
)

// adapterName is the name every command gives the adapter it loads, as PEFT
// does when a single adapter is loaded.
const adapterName = "default"

// seriesFlag adds --neumann-series to a command that loads an adapter.
func seriesFlag(fs *flag.FlagSet) *string {
	return fs.String("neumann-series", "auto", "OFT Cayley–Neumann series: auto (from the adapter's peft_version: below 0.18.0 or missing means PEFT 0.16–0.17's series), current (PEFT ≥ 0.18), or legacy (PEFT 0.16–0.17)")
}

// seriesOption turns --neumann-series into a load option.
func seriesOption(series string) ([]peft.LoadOption, error) {
	switch series {
	case "auto", "":
		return nil, nil
	case "current":
		return []peft.LoadOption{oft.WithSeries(orth.Neumann)}, nil
	case "legacy":
		return []peft.LoadOption{oft.WithSeries(orth.NeumannLegacy)}, nil
	}
	return nil, fmt.Errorf("--neumann-series %q: want auto, current or legacy", series)
}

// loadAdapted loads the model in modelDir and attaches the PEFT adapter in
// adapterDir as the active adapter "default", with the OFT series chosen
// by --neumann-series. Messages from the library name the file and the
// field, tensor or layer at fault.
func loadAdapted(modelDir, adapterDir, series string) (*peft.Model, *peft.Adapter, error) {
	opts, err := seriesOption(series)
	if err != nil {
		return nil, nil, err
	}
	m, err := model.Load(modelDir)
	if err != nil {
		return nil, nil, err
	}
	pm := peft.Wrap(m)
	a, err := pm.Load(adapterName, adapterDir, opts...)
	if err != nil {
		return nil, nil, err
	}
	return pm, a, nil
}

// nextTokenLoss runs m on ids and returns the logits and the mean
// next-token cross-entropy (ce keeps what its Backward needs). input and
// modelDir name the files for messages.
func nextTokenLoss(m model.CausalLM, ids [][]int, input, modelDir string, ce *nn.CrossEntropy) (logits *tensor.Tensor, loss float64, count int, err error) {
	logits, err = m.Forward(ids)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", input, err)
	}
	if len(ids[0]) < 2 {
		return nil, 0, 0, fmt.Errorf("%s: input_ids rows have 1 token; the next-token loss needs at least 2", input)
	}
	loss, count, err = ce.Forward(logits, nn.ShiftedTargets(ids))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", input, err)
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return nil, 0, 0, fmt.Errorf("loss is %v: the model's logits are not finite (check the weights in %s)", loss, modelDir)
	}
	return logits, loss, count, nil
}

// usageError prints a command-line mistake with the synopsis and returns
// errUsage (exit status 2).
func usageError(fs *flag.FlagSet, synopsis string, stderr io.Writer, format string, a ...any) error {
	fmt.Fprintf(stderr, "orthotune %s: %s\n\nUsage: orthotune %s\n", fs.Name(), fmt.Sprintf(format, a...), synopsis)
	return errUsage
}
