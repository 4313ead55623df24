// Package gemma3 implements Gemma 3's text model as transformers defines it
// (model_type gemma3_text, Gemma3ForCausalLM checkpoints):
//
//   - input embeddings scaled by float32(√hidden_size), what transformers
//     multiplies by in a float32 model; orthotune's activations are float32
//     whatever the weights' storage (base_dtype bf16 included), so it never
//     uses the bfloat16 rounding a bfloat16 transformers model applies
//     (25.25 instead of 25.298 for gemma-3-270m); the tied output head uses
//     the unscaled table;
//   - Gemma's RMSNorm y = x/rms(x)·(1 + w) (nn.RMSNorm with Offset 1) before and
//     after both attention and the MLP, on q and k per head (q_norm,
//     k_norm, before RoPE) and at the end;
//   - grouped-query attention scaled by query_pre_attn_scalar^−½, with
//     layers of two kinds (layer_types, or every sliding_window_pattern-th
//     layer full): sliding layers see the sliding_window most recent
//     positions, themselves included, and rotate with base
//     rope_local_base_freq; full layers see every earlier position and
//     rotate with rope_theta and rope_scaling ("linear");
//   - a GeGLU MLP down(gelu(gate(x))·up(x)) with the tanh GELU
//     (hidden_activation gelu_pytorch_tanh);
//   - logits soft-capped as c·tanh(logits/c) when final_logit_softcapping
//     is set (attn_logit_softcapping is read but, as in transformers'
//     Gemma 3, not applied);
//   - pad_token_id as torch's padding_idx: in full fine-tuning the
//     embedding lookup gives the pad row no gradient.
//
// Every linear layer runs through a model.LinearSlot, so every PEFT method
// attaches to it; Model is a model.LossModel, model.Decoder (KV cache, with
// sliding layers masked to their window), model.Replicator and
// model.Checkpointer. Config fields that would change the computation in a
// way the package does not implement are refused by name. Importing the
// package registers model_type gemma3_text with package model.
package gemma3
