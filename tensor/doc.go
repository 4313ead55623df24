// Package tensor provides orthotune's dense float32 tensor: a contiguous,
// row-major slice with a shape. It also converts between float32 and the
// half-precision formats found in checkpoints (IEEE F16 and bfloat16) and
// offers seeded initialisers, so every random tensor in orthotune can be
// reproduced from a seed.
//
// Training reuses memory instead of allocating it each step: Reuse keeps a
// layer's output buffer from one step to the next, and Get and Put pool the
// short-lived tensors (the gradients a backward pass hands from layer to
// layer) by exact length.
package tensor
