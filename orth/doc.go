// Package orth holds the orthogonal-matrix mathematics of OFT (Orthogonal
// Finetuning) as HF PEFT defines it.
//
// OFT adapts a layer by rotating its input: x is split into chunks of b
// features and chunk i is multiplied by an orthogonal b×b matrix R_i, so the
// layer computes base(x·R_bd) with R_bd = diag(R_1, …, R_n) block-diagonal.
// Merged into a weight this is W·R_bdᵀ (nn.Linear, weight (out, in)) or
// R_bd·W (GPT-2 Conv1D, weight (in, out)). Because every neuron's weight
// vector is rotated by the same orthogonal matrix, the angles between
// neurons, and hence their hyperspherical energy, are unchanged: OFT
// preserves the pretrained model's angular structure while learning.
//
// Each R_i is parametrised by a skew-symmetric Q_i (Qᵀ = −Q), stored packed
// as its strict upper triangle of b(b−1)/2 values in PEFT's
// torch.triu_indices order (UnpackSkew, PackSkew, SkewGrad). The exact
// Cayley transform R = (I − Q)(I + Q)⁻¹ maps every skew Q to a rotation
// (orthogonal, determinant +1). PEFT ≥ 0.18 defaults to a truncated Neumann
// series of (I + Q)(I − Q)⁻¹ instead, I + 2Q + 2Q² + … + Q^m, which is only
// approximately orthogonal (error of order ‖Q‖^m) and is the transpose of
// the exact path; PEFT 0.16–0.17 used a series with every power doubled.
// Cayley selects among the three and provides the rotation and its
// gradient. COFT (ProjectCOFT) keeps each Q inside a small Frobenius ball
// so the rotation stays near the identity.
//
// The package also applies block-diagonal rotations to activations and
// weights on top of kernels.Gemm (RotateRows, RotateRowsT, BlockGrad,
// RotateWeightLinear, RotateWeightConv1D) and offers float64 diagnostics
// (OrthogonalityError, Determinant, NormPreservation,
// InnerProductPreservation, EigenModuli, HypersphericalEnergy). Matrices
// are row-major []float32; per-block algebra is done in float64.
package orth
