// Package oft implements Orthogonal Finetuning as HF PEFT defines it: each
// adapted layer learns a block-diagonal orthogonal matrix R, every block
// the Cayley transform of a skew-symmetric Q stored as its strict upper
// triangle in oft_R.weight. Training is input-centric: x is rotated chunk
// by chunk (x_i ← x_i·R_i) and the frozen layer runs unchanged; R·W is
// formed only to merge.
//
// Supported: exact Cayley and the Cayley–Neumann series (PEFT ≥ 0.18, and
// the 0.16–0.17 series for adapters that predate peft_version 0.18.0),
// COFT (projection of each Q onto a Frobenius ball before every forward
// and merge), block sharing, block-size adjustment with a warning,
// multiplicative block dropout in training (which PEFT builds but never
// applies), exact unmerge, and GPT-2's Conv1D layers (an extension: PEFT
// refuses them). Importing the package registers peft_type "OFT".
package oft
