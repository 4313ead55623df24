package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/orthotune/orthotune/export"
	"github.com/orthotune/orthotune/gguf"
)

const exportSynopsis = "export gguf --model DIR [--adapter DIR] --out FILE.gguf [--outtype f32|f16|bf16|q8_0] [--modelfile] [--force]\n\n" +
	"Writes the model (with the adapter merged, any method) as one GGUF v3 file that llama.cpp and Ollama\n" +
	"load: llama.cpp's tensor names and metadata for llama, mistral, qwen2, qwen3, gemma3_text and gpt2,\n" +
	"the tokenizer (tokenizer.json; tokens, types, scores or merges, special ids, the pre-tokenizer name)\n" +
	"and the chat template. --outtype sets the weight matrices' type (norms, biases and GPT-2's position\n" +
	"embedding stay f32; q8_0 is llama.cpp's 8-bit blocks of 32, rows that are not whole blocks fall back\n" +
	"to f16). --modelfile also writes an Ollama Modelfile beside the file (FROM, stop tokens, and a\n" +
	"TEMPLATE for ChatML, Llama 3 and Gemma chat templates). An existing output is refused unless --force;\n" +
	"the file is written under a temporary name and renamed when complete, so a failure leaves nothing.\n\n" +
	"Serve it:  llama-server -m FILE.gguf    or    ollama create NAME -f Modelfile"

func runExport(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "gguf" && !strings.HasPrefix(args[0], "-")) {
		fmt.Fprintf(stderr, "orthotune export: want a format: gguf\n\nUsage: orthotune %s\n", exportSynopsis)
		return errUsage
	}
	if args[0] == "gguf" {
		args = args[1:]
	}
	fs := newFlags("export gguf")
	modelDir := fs.String("model", "", "Hugging Face model directory (config.json, safetensors weights, tokenizer.json)")
	adapterDir := fs.String("adapter", "", "PEFT adapter directory to merge into the model before export (any method)")
	loadOptions := loadFlags(fs)
	out := fs.String("out", "", "the .gguf file to write")
	outType := fs.String("outtype", "f16", "type of the weight matrices: f32, f16, bf16 or q8_0")
	modelfile := fs.Bool("modelfile", false, "also write an Ollama Modelfile in the output's directory")
	force := fs.Bool("force", false, "replace an existing output file (and Modelfile)")
	name := fs.String("name", "", "general.name in the file (default: the model directory's name)")
	if _, err := parseFlags(fs, exportSynopsis, args, 0, 0, stdout, stderr); err != nil {
		return err
	}
	if err := requireFlags(fs, exportSynopsis, stderr, "model", "out"); err != nil {
		return err
	}
	typ, err := gguf.ParseTensorType(*outType)
	if err != nil {
		return fmt.Errorf("--outtype %q: want f32, f16, bf16 or q8_0", *outType)
	}
	opts, err := loadOptions()
	if err != nil {
		return err
	}
	res, err := export.GGUF(export.GGUFOptions{
		ModelDir: *modelDir, AdapterDir: *adapterDir, LoadOptions: opts, Out: *out, Type: typ,
		Name: *name, Force: *force, Modelfile: *modelfile,
	})
	if err != nil {
		return err
	}
	var types []string
	for t, n := range res.Types {
		types = append(types, fmt.Sprintf("%v×%d", t, n))
	}
	sort.Strings(types)
	merged := ""
	if res.Merged != "" {
		merged = fmt.Sprintf(" with the %s adapter merged", res.Merged)
	}
	fmt.Fprintf(stdout, "wrote %s: %s%s, %d tensors (%s), %.1f MB in %v\n", res.Path, res.Architecture, merged,
		res.Tensors, strings.Join(types, ", "), float64(res.Bytes)/1e6, res.Elapsed.Round(time.Millisecond))
	if res.Modelfile != "" {
		tmpl := "its TEMPLATE spells out the " + res.ModelfileTemplate + " chat format"
		if res.ModelfileTemplate == "" {
			tmpl = "no TEMPLATE (Ollama reads the chat template stored in the file)"
		}
		fmt.Fprintf(stdout, "wrote %s: %s\n", res.Modelfile, tmpl)
	}
	return nil
}
