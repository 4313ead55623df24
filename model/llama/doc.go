// Package llama implements the Llama family of decoder-only transformers as
// transformers defines them — model_type llama, mistral and qwen2 (Qwen2
// adds q/k/v biases) — with RMSNorm, rotary position embeddings
// (rope_theta, optional "linear" and "llama3" rope_scaling), grouped-query
// attention, a SwiGLU MLP and a tied or untied output head. Besides the
// training Forward/Backward, Model is a model.Decoder: Step runs new tokens
// against a key/value cache, RoPE at their absolute positions and sliding
// windows masked as in Forward. Importing the package registers those
// model types with package model.
//
// The block is shared with architectures that are Llama plus options
// (Config.QKNorm for Qwen3's per-head q/k norms, biases, per-layer sliding
// windows, an embedding padding row): such an architecture's package
// describes how it reads config.json as a Variant and registers
// Builder(variant) under its own model_type (see model/qwen3).
package llama
