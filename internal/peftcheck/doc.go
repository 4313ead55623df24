// Package peftcheck holds adapters against the float64 PEFT references:
// Run puts a single-layer case through a method's layer — forward,
// backward, merge, unmerge — and Model a PEFT adapter directory on a whole
// reference model — logits, loss, every adapter gradient, merged weights,
// disabling — reporting every difference against the references and their
// tolerances. peft/oft, peft/lora and peft's reference tests share it.
package peftcheck
