// Package tokenizer loads Hugging Face tokenizer.json files and encodes and
// decodes text with them in pure Go, token for token as Hugging Face's own
// tokenizer code does.
//
// Two families of BPE tokenizers are covered: byte-level BPE (GPT-2, Llama 3,
// Qwen2/Qwen2.5, SmolLM), whose pre-tokenizer is ByteLevel or a Split regex
// with lookahead followed by ByteLevel, and Metaspace BPE with byte fallback
// (Llama 2, Mistral, TinyLlama), in the old form (normalizer Prepend("▁") and
// Replace(" ", "▁")) and the new one (a Metaspace pre-tokenizer). Added tokens
// in the text are matched before the model runs, as Hugging Face does by
// default; Encode adds no special tokens, EncodeSpecial adds what the
// post_processor (or, when it says nothing, add_bos_token/add_eos_token in
// tokenizer_config.json) asks for. Anything else in a tokenizer.json (a
// Unigram or WordPiece model, a normalizer or pre-tokenizer this package does
// not implement) is refused with an error naming the field.
//
// The reference is Hugging Face's code run under node: @huggingface/transformers
// (its @huggingface/tokenizers) and the Rust tokenizers library through its
// official node binding; the tests compare every id and decoded string on
// several hundred strings per tokenizer file (see testdata/README.md). Where
// those two disagree (a handful of rare code points, see below) this package
// follows @huggingface/transformers:
//
//   - ByteLevel's built-in GPT-2 regex uses JavaScript's \s, which contains
//     U+FEFF and not U+0085 (Rust's Oniguruma \s is the other way round).
//   - The ByteFallback decoder turns invalid UTF-8 into one U+FFFD per
//     maximal invalid subsequence (WHATWG), and drops a byte-order mark that
//     starts a run of byte tokens.
//   - Whitespace trimmed around lstrip/rstrip added tokens is JavaScript's.
//
// Fields that @huggingface/transformers ignores follow the Rust library:
// single_word on added tokens, Split behaviours other than Isolated and
// Removed, Metaspace split, Metaspace add_prefix_space=false.
//
// Input that is not valid UTF-8 is read as a browser would read it: each
// maximal invalid byte sequence becomes U+FFFD. Letter and number classes
// come from Go's Unicode tables (Unicode 15.0); characters assigned later may
// be classified differently than in newer Hugging Face builds.
//
// A Tokenizer is safe for concurrent use. Words (pre-tokens) already seen are
// served from a bounded cache.
//
// NewByteLevelBPE and TrainByteLevelBPE build a GPT-2-style byte-level BPE
// tokenizer in code; WriteFile saves any Tokenizer as a tokenizer.json and a
// tokenizer_config.json that Hugging Face's libraries load.
package tokenizer
