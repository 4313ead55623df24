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
package nn
