// Package qwen3 reads Qwen3 checkpoints (config.json model_type "qwen3",
// Qwen3ForCausalLM) as transformers defines them, and builds them through
// package llama's decoder block: Qwen3 is Llama with a per-head RMSNorm of
// the queries and of the keys over head_dim, applied before RoPE (the
// weights self_attn.q_norm.weight and self_attn.k_norm.weight are ordinary
// parameters: they train in full fine-tuning, while adapters attach to
// q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj and down_proj as on
// Llama).
//
// What the package adds is Qwen3's reading of config.json (ParseConfig):
// head_dim defaults to 128, not hidden_size / num_attention_heads;
// attention_bias gives q, k, v and o_proj biases; use_sliding_window
// slides the layers from max_window_layers on (or those layer_types names
// "sliding_attention"); pad_token_id makes the embedding lookup give its
// row no gradient. transformers v5's rope_parameters is read as well as
// rope_theta and rope_scaling. Fields it cannot honour (rotary scaling types
// other than "default", "linear" and "llama3", hidden_act other than
// "silu", a non-zero attention_dropout) are
// refused with an error naming config.json and the field. The model built
// is a *llama.Model, with everything it offers: training Forward/Backward,
// model.LossModel, gradient checkpointing, replicas, and KV-cache decoding
// (model.Decoder).
//
// Importing the package registers model_type "qwen3" with package model.
package qwen3
