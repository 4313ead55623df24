// Package peftcheck runs the single-layer PEFT reference cases through an
// adapter method's layer — forward, backward, merge, unmerge — and reports
// every difference against the float64 references and cases.json's
// tolerances. peft/oft and peft/lora tests share it.
package peftcheck
