// Package hra implements HRA, Householder reflection adaptation (Yuan et
// al. 2024), as HF PEFT defines it: each adapted layer learns r vectors,
// the columns of hra_u (in_features, r), and the layer computes
// base(x·Hᵀ) = x·(W·H)ᵀ + b with
//
//	H = (I − 2u_0u_0ᵀ)(I − 2u_1u_1ᵀ)…(I − 2u_{r−1}u_{r−1}ᵀ),  u_i = U[:,i]/‖U[:,i]‖,
//
// or, with apply_GS, H = I − 2QQᵀ for Q the modified Gram–Schmidt
// orthonormalisation of the columns in order (orth.Householder). H is
// orthogonal with det H = (−1)^r: an odd r makes it a reflection. Training
// is input-centric: the reflections are applied to the input rows in a
// compact form (three GEMMs of rows·in·r), and H is folded into a scratch
// copy of the weight only when the batch has more rows than the layer has
// outputs; merging computes W·H (Hᵀ·W for GPT-2's Conv1D, an extension:
// PEFT refuses Conv1D), and unmerging multiplies by H⁻¹ exactly.
//
// Initialisation of new adapters: with init_weights and an even r the
// columns come in equal pairs (PEFT's symmetric init), so H = I and
// training starts from the base model; an odd r or init_weights=false
// draws kaiming-uniform columns, as PEFT does. With apply_GS PEFT's
// symmetric init is broken — Gram–Schmidt turns the duplicated columns'
// rounding residue into directions of no meaning, and PEFT's H is neither
// the identity nor orthogonal — so orthotune departs from PEFT there: a
// new apply_GS adapter gets independent columns and an exactly orthogonal
// H (I − 2QQᵀ is never the identity, so such training starts away from the
// base model). Loading, every PEFT file is computed as PEFT computes it,
// except that an apply_GS hra_u with dependent columns (such as PEFT's
// untrained default init, or r > in_features) is refused with an error
// naming the layer, as PEFT's result there is float32 rounding noise (or
// NaN) that cannot be reproduced.
//
// Importing the package registers peft_type "HRA" (orthotune train
// --method hra, flags --hra-r, --hra-apply-gs, --hra-init-weights).
package hra
