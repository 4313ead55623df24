package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/orthotune/orthotune/finetune"
	"io"
	iofs "io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/orthotune/orthotune/chat"
	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/generate"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/tokenizer"
)

const generateSynopsis = "generate --model DIR [--adapter DIR] --prompt TEXT [flags]\n\n" +
	"Continues the prompt with the model (through the adapter, if given), printing tokens as they\n" +
	"are chosen. Greedy by default; --temperature > 0 samples (then --top-k and --top-p filter,\n" +
	"in that order, as transformers does), reproducibly for a --seed. Stops at --max-new-tokens,\n" +
	"at the end-of-sequence token (tokenizer and generation_config.json), or at the context's end\n" +
	"(with a warning on stderr: the text is cut off).\n" +
	"--chat renders the prompt as a user message with the model's chat template;\n" +
	"--chat-template-kwargs gives the template further variables, as transformers'\n" +
	"apply_chat_template(**kwargs) does: '{\"enable_thinking\": false}' for Qwen3."

func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("generate")
	modelDir := fs.String("model", "", "Hugging Face model directory (with tokenizer.json)")
	adapterDir := fs.String("adapter", "", "PEFT adapter directory (default: the model alone)")
	loadOptions := loadFlags(fs)
	prompt := fs.String("prompt", "", "text to continue")
	chatMode := fs.Bool("chat", false, "wrap --prompt as a user message in the model's chat template, with the generation prompt")
	system := fs.String("system", "", "with --chat: a system message before the prompt")
	templateKwargs := fs.String("chat-template-kwargs", "", "with --chat: a JSON object of further chat template variables, such as {\"enable_thinking\": false}")
	maxNew := fs.Int("max-new-tokens", 128, "most tokens to generate")
	temperature := fs.Float64("temperature", 0, "sampling temperature (0: greedy)")
	topK := fs.Int("top-k", 0, "sample among the k most likely tokens (0: all)")
	topP := fs.Float64("top-p", 1, "sample from the smallest set of tokens whose probability reaches p (1: all)")
	var seed uint64
	fs.Var(uint64Flag{&seed}, "seed", "random seed for sampling")
	noStream := fs.Bool("no-stream", false, "print the text once at the end instead of token by token")
	showPrompt := fs.Bool("echo", false, "print the prompt before the generated text")
	if _, err := parseFlags(fs, generateSynopsis, args, 0, 0, stdout, stderr); err != nil {
		return err
	}
	if err := requireFlags(fs, generateSynopsis, stderr, "model", "prompt"); err != nil {
		return err
	}
	var vars map[string]any
	if *templateKwargs != "" {
		if !*chatMode {
			return fmt.Errorf("--chat-template-kwargs: only with --chat")
		}
		var err error
		if vars, err = templateVars(*templateKwargs); err != nil {
			return err
		}
	}
	opts, err := loadOptions()
	if err != nil {
		return err
	}
	m, err := finetune.LoadForInference(*modelDir, *adapterDir, opts...)
	if err != nil {
		return err
	}
	tok, err := finetune.LoadTokenizer(*modelDir, m.Info().Vocab)
	if err != nil {
		return err
	}
	if tok == nil {
		return fmt.Errorf("%s: no tokenizer.json: generate needs the model's tokenizer", *modelDir)
	}
	text := *prompt
	var ids []int
	if *chatMode {
		msgs := []data.Message{{Role: "user", Content: text}}
		if *system != "" {
			msgs = append([]data.Message{{Role: "system", Content: *system}}, msgs...)
		}
		r := finetune.NewChatRenderer(tok)
		r.SetTemplateVars(vars)
		if text, err = r.Render(msgs, true); err != nil {
			return err
		}
		ids = tok.Encode(text)
	} else {
		ids = tok.EncodeSpecial(text)
	}
	if len(ids) == 0 {
		return fmt.Errorf("--prompt tokenizes to no tokens")
	}
	dec, ok := m.(model.Decoder)
	if !ok {
		return fmt.Errorf("%s: model_type %s cannot generate (no key/value cache)", *modelDir, m.Info().ModelType)
	}
	stops, err := stopIDs(*modelDir, tok)
	if err != nil {
		return err
	}
	if *showPrompt {
		fmt.Fprint(stdout, text)
	}
	s := &streamer{tok: tok, w: stdout, quiet: *noStream}
	out, why, err := generate.Run(dec, ids, generate.Options{
		MaxNewTokens: *maxNew, Seed: seed, StopIDs: stops, OnToken: s.add,
		Sampler: generate.Sampler{Temperature: *temperature, TopK: *topK, TopP: *topP},
	})
	if err != nil {
		return err
	}
	if *noStream {
		fmt.Fprint(stdout, tok.Decode(out, true))
	} else {
		s.flush()
	}
	fmt.Fprintln(stdout)
	if why == generate.StopContext {
		fmt.Fprintf(stderr, "orthotune generate: warning: the model's context of %d positions (%s) ended the text after %d new tokens (a %d-token prompt), before --max-new-tokens %d or an end-of-sequence token: the text is cut off\n",
			dec.Info().MaxPositions, filepath.Join(*modelDir, "config.json"), len(out), len(ids), *maxNew)
	}
	return nil
}

// streamer prints generated text as tokens arrive, holding back a token
// that ends inside a multi-byte character until the character is whole.
type streamer struct {
	tok     *tokenizer.Tokenizer
	w       io.Writer
	ids     []int
	printed string
	quiet   bool
}

func (s *streamer) add(id int) error {
	s.ids = append(s.ids, id)
	if s.quiet {
		return nil
	}
	text := s.tok.Decode(s.ids, true)
	if strings.HasSuffix(text, "\uFFFD") {
		return nil
	}
	s.emit(text)
	return nil
}

func (s *streamer) emit(text string) {
	if strings.HasPrefix(text, s.printed) {
		fmt.Fprint(s.w, text[len(s.printed):])
		s.printed = text
	}
}

func (s *streamer) flush() { s.emit(s.tok.Decode(s.ids, true)) }

// stopIDs are the tokenizer's EOS and generation_config.json's
// eos_token_id (a number or a list).
func stopIDs(modelDir string, tok *tokenizer.Tokenizer) ([]int, error) {
	var ids []int
	if id, ok := tok.EOS(); ok {
		ids = append(ids, id)
	}
	path := filepath.Join(modelDir, "generation_config.json")
	raw, err := os.ReadFile(path)
	if errors.Is(err, iofs.ErrNotExist) {
		return ids, nil
	}
	if err != nil {
		return nil, err
	}
	var gc struct {
		EOS json.RawMessage `json:"eos_token_id"`
	}
	if err := json.Unmarshal(raw, &gc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var one int
	var many []int
	switch {
	case len(gc.EOS) == 0 || string(gc.EOS) == "null":
	case json.Unmarshal(gc.EOS, &one) == nil:
		ids = append(ids, one)
	case json.Unmarshal(gc.EOS, &many) == nil:
		ids = append(ids, many...)
	default:
		return nil, fmt.Errorf("%s: eos_token_id is %s, want a token id or a list of them", path, gc.EOS)
	}
	return ids, nil
}

// templateVars reads generate's --chat-template-kwargs (parseTemplateVars).
func templateVars(arg string) (map[string]any, error) {
	vars, err := parseTemplateVars(arg)
	if err != nil {
		return nil, fmt.Errorf("--chat-template-kwargs: %w", err)
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if chat.IsRenderVar(k) {
			return nil, fmt.Errorf("--chat-template-kwargs: %q is set by --prompt and --system, not here", k)
		}
	}
	return vars, nil
}

// parseTemplateVars reads a --chat-template-kwargs value: a JSON object
// whose values the chat template sees as variables. Values stay raw JSON,
// so objects keep their key order (tojson reproduces it).
func parseTemplateVars(arg string) (map[string]any, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(arg), &raw); err != nil || raw == nil {
		if err == nil {
			err = errors.New("got null")
		}
		return nil, fmt.Errorf("want a JSON object: %w", err)
	}
	vars := make(map[string]any, len(raw))
	for k, v := range raw {
		vars[k] = v
	}
	return vars, nil
}

// templateVarsFlag is the --chat-template-kwargs of train and eval: the
// variables for rendering "messages" records (finetune.Job's and
// EvalJob's ChatTemplateKwargs).
type templateVarsFlag struct{ vars *map[string]any }

func (f templateVarsFlag) String() string {
	if f.vars == nil || len(*f.vars) == 0 {
		return ""
	}
	b, err := json.Marshal(*f.vars)
	if err != nil {
		return ""
	}
	return string(b)
}

func (f templateVarsFlag) Set(s string) error {
	vars, err := parseTemplateVars(s)
	if err == nil {
		err = finetune.CheckTemplateVars(vars)
	}
	if err != nil {
		return err
	}
	*f.vars = vars
	return nil
}
