// Package gpt2 implements GPT-2 as transformers' GPT2LMHeadModel defines it:
// learned position embeddings, pre-LayerNorm blocks, Conv1D projections
// with (in, out) weights, c_attn packing q, k and v along its output, a
// gelu_new MLP and an output head tied to the token embedding. Checkpoints
// with or without the "transformer." prefix load; the attn.bias and
// attn.masked_bias buffers of original files are skipped. Linear layers are
// always named with the prefix (transformer.h.0.attn.c_attn), as PEFT sees
// them. Model is also a model.Decoder: Step runs new tokens against a
// key/value cache, up to n_positions. Importing the package registers
// model_type gpt2 with package model.
package gpt2
