// Package export turns a Hugging Face model directory that orthotune loads,
// optionally with a PEFT adapter of any method merged into it, into files
// other runtimes serve: a GGUF file for llama.cpp and Ollama (GGUF), and an
// Ollama Modelfile beside it.
//
// GGUF loads the model (model.Load, or finetune.LoadAdapted and
// peft.Model.Merge when an adapter is given) and writes what llama.cpp's
// own converter (convert_hf_to_gguf.py) writes for the architecture:
//
//   - general.* and <arch>.* metadata (context length, widths, block count,
//     head counts, key/value length where head_dim ≠ hidden/heads, RoPE
//     base and scaling, norm epsilon, sliding window, Gemma 3's local RoPE
//     base, layer pattern and final logit soft-capping);
//   - every weight under llama.cpp's tensor name (token_embd, blk.N.attn_q,
//     …, output_norm, output; no output when the head is tied), with the
//     converter's transformations: the rotary row permutation of Llama and
//     Mistral q_proj/k_proj, GPT-2's Conv1D weights transposed (its packed
//     c_attn becomes attn_qkv as it is), 1 added to Gemma 3's norm weights
//     (llama.cpp multiplies by w where transformers multiplies by 1 + w),
//     and for Llama 3 rotary scaling a rope_freqs tensor;
//   - the tokenizer: tokenizer.ggml.model "gpt2" for byte-level BPE (with
//     merges and the pre-tokenizer name) or "llama" for SentencePiece-style
//     BPE with byte fallback (with scores), tokens, token types, special ids,
//     add-BOS/EOS flags and the chat template.
//
// The architectures: llama and mistral (GGUF "llama"), qwen2, qwen3,
// gemma3_text ("gemma3") and gpt2. Anything llama.cpp has no mapping for is
// refused with an error naming the model directory, the file and the field.
//
// Tensor types follow the converter: 1-D tensors, norms, biases and GPT-2's
// position embedding are F32; every other weight takes the requested type;
// with Q8_0 a weight whose rows are not whole blocks of 32 falls back to
// F16. The token embedding and the output head are quantised like the rest,
// as the converter does for q8_0.
//
// The pre-tokenizer name (tokenizer.ggml.pre) is derived from the
// tokenizer's pre-tokenizer, not from a hash of token ids as the converter
// does: ByteLevel with GPT-2's regex is "gpt-2"; a Split with Llama 3's
// regex then ByteLevel is "llama-bpe"; with Qwen2's regex "qwen2"; Digits
// (individual) then ByteLevel "smollm"; anything else is refused. These are
// the pre-tokenizers llama.cpp implements under those names.
//
// Files are written atomically: to a temporary name in the destination
// directory, synced, then renamed; on any error nothing is left behind.
package export
