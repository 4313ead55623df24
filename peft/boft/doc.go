// Package boft implements Butterfly Orthogonal Finetuning (BOFT, Liu et
// al. 2023) as HF PEFT defines it. Each adapted layer learns m butterfly
// factors of D blocks of b×b (boft_R, shape (m, D, b, b)) and an output
// scale (boft_s, shape (out, 1)). Block A of boft_R gives the rotation
// (I − S)(I + S)⁻¹ of its skew part S = ½(A − Aᵀ) (exact Cayley, no
// Neumann series); factor i is B_i = P_i·diag(blocks)·P_iᵀ with PEFT's
// butterfly permutation P_i, and the layer's rotation is M = B_{m−1}·…·B_0.
// The layer computes y = base(x·M), its output less the bias scaled by s.
//
// Training is input-centric: the rows of x pass through the factors
// (orth.Butterfly) and the frozen layer runs unchanged; a batch with more
// rows than m times the layer's outputs folds M into a scratch copy of the
// weight instead. Merging forms diag(s)·W·Mᵀ (GPT-2 Conv1D: M·W·diag(s));
// unmerging applies the exact inverse.
//
// PEFT builds the butterfly factors only with its CUDA extension; without
// it PEFT silently trains a single factor while the config keeps the
// requested number. The number of factors is therefore read from boft_R's
// shape when loading, with a warning where adapter_config.json disagrees.
// Supported besides: boft_block_size or boft_block_num (exactly one, as
// PEFT requires), PEFT's refusals of sizes that do not tile a layer or
// factors too many for its blocks, boft_dropout in training (one random
// factor, int(p·D) of its blocks replaced by the identity), and Conv1D
// layers (an extension: PEFT refuses them). Importing the package
// registers peft_type "BOFT".
package boft
