// Package nn holds the layers orthotune's models are built from — Linear
// (nn.Linear and GPT-2's Conv1D), Embedding, RMSNorm, LayerNorm, rotary
// position embedding, causal grouped-query attention, the SwiGLU and GELU
// activations, and next-token cross-entropy — each with its Forward and
// Backward side by side.
//
// Conventions: activations are row-major float32 tensors whose last axis is
// the feature axis; leading axes are flattened into rows. A layer's Forward
// keeps exactly what its Backward needs (documented per layer), so a layer
// instance serves one forward/backward pair at a time. Backward always
// returns the gradient of the layer's input and accumulates (adds) into the
// gradient buffers of trainable parameters; frozen parameters have no
// gradient buffer at all.
//
// Memory: a layer reuses its output buffer between steps (a result is valid
// until the layer's next Forward; the output head sets Linear.FreshOutput),
// and the input gradient Backward returns comes from tensor.Get for the
// caller to give back with tensor.Put. Releaser drops what a layer keeps,
// for gradient checkpointing. Frozen Linear weights may be held in bfloat16
// (Linear.StoreBF16).
package nn
