// Package tokenizer loads Hugging Face tokenizer.json files and encodes and
// decodes text with them in pure Go, token for token as Hugging Face's own
// tokenizer code does.
//
// Two families of BPE tokenizers are covered: byte-level BPE (GPT-2, Llama 3,
// Qwen2/Qwen2.5, Qwen3, SmolLM), whose pre-tokenizer is ByteLevel, or a Split
// regex with lookahead followed by ByteLevel, and Metaspace BPE with byte
// fallback (Llama 2, Mistral, TinyLlama, Gemma 3), in the old form
// (normalizer Prepend("▁") and Replace(" ", "▁"); Gemma 3 without the
// Prepend, and with a 262k vocabulary and thousands of added tokens) and the
// new one (a Metaspace pre-tokenizer). Added tokens
// written in the text are matched before the model runs, as Hugging Face does
// by default; Encode adds no special tokens, EncodeSpecial adds what the
// post_processor's template (or, when there is none, add_bos_token and
// add_eos_token in tokenizer_config.json) asks for. Anything else in a
// tokenizer.json (a Unigram or WordPiece model, a normalizer or
// pre-tokenizer this package does not implement) is refused with an error
// naming the file and the field; errors.Is(err, ErrUnsupported) tells those
// apart from malformed files.
//
// The reference is Hugging Face's code run under node: @huggingface/transformers
// (which runs @huggingface/tokenizers), and beside it the Rust tokenizers
// library that Python's transformers uses, through its official node
// binding. The tests compare every id and decoded string for several hundred
// strings per tokenizer file (see testdata/README.md) and agree with
// @huggingface/transformers on all of them. The Rust library differs from it
// on a few rare inputs; there this package follows @huggingface/transformers:
//
//   - The ByteLevel pre-tokenizer's GPT-2 regex uses JavaScript's \s, which
//     contains U+FEFF and not U+0085 (Oniguruma's \s is the other way round).
//   - The Digits pre-tokenizer splits ASCII digits only.
//   - The ByteFallback decoder turns invalid UTF-8 into one U+FFFD per maximal
//     invalid subsequence (WHATWG) rather than one per byte, and drops a
//     byte-order mark that starts a run of byte tokens.
//   - The Metaspace decoder removes one leading space, from the first token.
//   - An added token matched after normalization (normalized: true) decodes
//     to its content alone, where the Rust library may put a space before it.
//   - The whitespace that lstrip and rstrip added tokens remove is
//     JavaScript's.
//
// Settings @huggingface/transformers ignores or reads loosely follow the
// Rust library: single_word on added tokens, Split's invert and its
// behaviours other than Isolated, Metaspace's split (true by default) and
// add_prefix_space=false.
// Decode skips ids outside the vocabulary. Without tokenizer_config.json,
// clean_up_tokenization_spaces is false, as in current Python transformers.
//
// Input that is not valid UTF-8 is read as a browser reads it: each maximal
// invalid byte sequence becomes U+FFFD. Letter and number classes come from
// Go's Unicode tables (Unicode 15.0); characters assigned in later versions
// may be classified differently than by newer Hugging Face builds.
//
// A Tokenizer is safe for concurrent use. Pre-tokens already seen are served
// from a bounded cache; the pre-tokenizer regexes of GPT-2, Llama 3 and Qwen2
// run as hand-written matchers, others through regexp2.
//
// NewByteLevelBPE and TrainByteLevelBPE build a GPT-2-style byte-level BPE
// tokenizer in code; WriteFile saves any Tokenizer as a tokenizer.json and a
// tokenizer_config.json that Hugging Face's libraries load (the tests check
// that both the JavaScript and the Rust library read a trained one and
// produce the same ids).
package tokenizer
