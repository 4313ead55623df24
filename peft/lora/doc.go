// Package lora implements LoRA as HF PEFT defines it: y = base(x) +
// s·(dropout(x)·Aᵀ)·Bᵀ with A (r, in), B (out, r) and s = lora_alpha/r, or
// lora_alpha/√r with use_rslora; per-module ranks and alphas from
// rank_pattern / alpha_pattern; kaiming-uniform, "gaussian" or random
// initialisation; dropout in training only; merge W ← W + s·B·A (its
// transpose for Conv1D / fan_in_fan_out) and exact unmerge. Importing the
// package registers peft_type "LORA".
package lora
