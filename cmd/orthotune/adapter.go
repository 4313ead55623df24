package main

import (
	"flag"
	"fmt"
	"io"
	"math"

	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/tensor"
)

// loadFlags adds the registered methods' load settings
// (peft.LoadSettings, e.g. OFT's --neumann-series) to a command that loads
// an adapter, and returns the function that turns their values into load
// options once the flags are parsed.
func loadFlags(fs *flag.FlagSet) func() ([]peft.LoadOption, error) {
	settings := peft.LoadSettings()
	values := make([]*string, len(settings))
	for i, s := range settings {
		values[i] = fs.String(s.Flag, s.Default, s.Help)
	}
	return func() ([]peft.LoadOption, error) {
		var opts []peft.LoadOption
		for i, s := range settings {
			opt, err := s.Option(*values[i])
			if err != nil {
				return nil, fmt.Errorf("--%w", err)
			}
			if opt != nil {
				opts = append(opts, opt)
			}
		}
		return opts, nil
	}
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
