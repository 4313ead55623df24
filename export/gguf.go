package export

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/orthotune/orthotune/finetune"
	"github.com/orthotune/orthotune/gguf"
	"github.com/orthotune/orthotune/internal/atomicfile"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/peft"

	// The architectures GGUF exports.
	_ "github.com/orthotune/orthotune/model/gemma3"
	_ "github.com/orthotune/orthotune/model/gpt2"
	_ "github.com/orthotune/orthotune/model/llama"
	_ "github.com/orthotune/orthotune/model/qwen3"
)

// GGUFOptions says what GGUF exports and where.
type GGUFOptions struct {
	// ModelDir is a Hugging Face model directory: config.json, safetensors
	// weights and tokenizer.json (tokenizer_config.json and
	// chat_template.jinja when present).
	ModelDir string
	// AdapterDir, when set, is a PEFT adapter directory (any method) merged
	// into the weights before export.
	AdapterDir string
	// LoadOptions are passed to the adapter's loader.
	LoadOptions []peft.LoadOption
	// Out is the .gguf file to write.
	Out string
	// Type is the type of the weight matrices (gguf.F32, F16, BF16 or
	// Q8_0; the zero value is F32).
	Type gguf.TensorType
	// Name is general.name; the model directory's base name when empty.
	Name string
	// Force replaces an existing Out (and Modelfile); otherwise an existing
	// file is refused.
	Force bool
	// Modelfile also writes an Ollama Modelfile in Out's directory.
	Modelfile bool
}

// GGUFResult reports what GGUF wrote.
type GGUFResult struct {
	Path         string                  // the .gguf file
	Architecture string                  // general.architecture
	Tensors      int                     // tensor count
	Types        map[gguf.TensorType]int // tensors per type
	Bytes        int64                   // file size
	Merged       string                  // the adapter's peft_type when one was merged
	Modelfile    string                  // the Modelfile's path when written
	// ModelfileTemplate names the chat family whose Ollama TEMPLATE the
	// Modelfile spells out ("chatml", "llama3", "gemma"), or "" when it has
	// none (Ollama then reads tokenizer.chat_template from the file).
	ModelfileTemplate string
	Elapsed           time.Duration
}

// ErrExists is wrapped by the error for an existing output without Force.
var ErrExists = errors.New("exists")

// GGUF exports opts.ModelDir (with opts.AdapterDir merged) to opts.Out as a
// GGUF file llama.cpp loads; see the package documentation for what it
// holds. It refuses an existing Out unless opts.Force, an architecture or
// tokenizer llama.cpp cannot map, and an adapter that does not fit the
// model, before writing anything; the file appears complete or not at all.
func GGUF(opts GGUFOptions) (*GGUFResult, error) {
	start := time.Now()
	if opts.ModelDir == "" || opts.Out == "" {
		return nil, errors.New("export: the model directory and the output file are required")
	}
	switch opts.Type {
	case gguf.F32, gguf.F16, gguf.BF16, gguf.Q8_0:
	default:
		return nil, fmt.Errorf("export: output type %v is not supported (want f32, f16, bf16 or q8_0)", opts.Type)
	}
	out := filepath.Clean(opts.Out)
	if err := checkNew(out, opts.Force); err != nil {
		return nil, err
	}
	modelfile := filepath.Join(filepath.Dir(out), "Modelfile")
	if opts.Modelfile {
		if err := checkNew(modelfile, opts.Force); err != nil {
			return nil, err
		}
	}
	cfg, err := model.ReadConfig(filepath.Join(opts.ModelDir, "config.json"))
	if err != nil {
		return nil, err
	}
	modelType, err := cfg.String("model_type")
	if err != nil {
		return nil, err
	}
	arch, ok := architectures[modelType]
	if !ok {
		return nil, fmt.Errorf("export: %s: config.json field \"model_type\" = %q: llama.cpp has no mapping orthotune knows for it (exportable: %s)", opts.ModelDir, modelType, strings.Join(archNames(), ", "))
	}
	// The tokenizer first: it is cheap and its refusals should not wait
	// for the weights.
	vocab, err := readVocab(opts.ModelDir)
	if err != nil {
		return nil, err
	}

	res := &GGUFResult{Path: out, Architecture: arch.name, Types: map[gguf.TensorType]int{}}
	var m model.CausalLM
	if opts.AdapterDir != "" {
		pm, a, err := finetune.LoadAdapted(opts.ModelDir, opts.AdapterDir, opts.LoadOptions...)
		if err != nil {
			return nil, err
		}
		if err := pm.Merge(); err != nil {
			return nil, fmt.Errorf("export: merging %s into %s: %w", opts.AdapterDir, opts.ModelDir, err)
		}
		m = pm
		res.Merged = a.Config.Base().PeftType
	} else if m, err = model.Load(opts.ModelDir); err != nil {
		return nil, err
	}

	name := opts.Name
	if name == "" {
		name = filepath.Base(filepath.Clean(opts.ModelDir))
	}
	plan, err := newPlan(arch, cfg, m, vocab, opts.ModelDir, name, opts.Type)
	if err != nil {
		return nil, err
	}
	if err := checkNew(out, opts.Force); err != nil { // appeared while loading
		return nil, err
	}
	err = atomicfile.Write(out, func(w io.Writer) error { return plan.write(w) })
	if err != nil {
		return nil, fmt.Errorf("export: writing %s: %w", out, err)
	}
	for _, t := range plan.tensors {
		res.Types[t.typ]++
	}
	res.Tensors = len(plan.tensors)
	if st, err := os.Stat(out); err == nil {
		res.Bytes = st.Size()
	}
	if opts.Modelfile {
		text, family := modelfileText(filepath.Base(out), vocab)
		if err := atomicfile.WriteBytes(modelfile, []byte(text)); err != nil {
			os.Remove(out) // all or nothing: no GGUF without the Modelfile asked for
			return nil, fmt.Errorf("export: writing %s: %w", modelfile, err)
		}
		res.Modelfile, res.ModelfileTemplate = modelfile, family
	}
	res.Elapsed = time.Since(start)
	slog.Info("exported GGUF", "file", out, "arch", arch.name, "tensors", res.Tensors, "bytes", res.Bytes, "elapsed", res.Elapsed.Round(time.Millisecond))
	return res, nil
}

// checkNew refuses an existing path unless force, and a directory always.
func checkNew(path string, force bool) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("export: %s: %w", path, err)
	case st.IsDir():
		return fmt.Errorf("export: %s is a directory; want a file name", path)
	case !force:
		return fmt.Errorf("export: %s %w; refusing to overwrite it without --force", path, ErrExists)
	}
	return nil
}
