// Package tensor provides orthotune's dense float32 tensor: a contiguous,
// row-major slice with a shape. It also converts between float32 and the
// half-precision formats found in checkpoints (IEEE F16 and bfloat16) and
// offers seeded initialisers, so every random tensor in orthotune can be
// reproduced from a seed.
package tensor
