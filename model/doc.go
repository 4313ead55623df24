// Package model turns a Hugging Face model directory (config.json plus
// safetensors weights) into a CausalLM whose linear layers carry exactly
// the module names of the checkpoint, so PEFT adapter keys map onto them
// one to one.
//
// Architectures register themselves by config.json's model_type: import
// github.com/orthotune/orthotune/model/llama (llama, mistral, qwen2) and
// github.com/orthotune/orthotune/model/gpt2 (gpt2) for their side effects,
// then call Load. Any other model_type is an error that names the field.
//
// NewInitialized builds a model from a config alone, through the same
// registered builder, with every weight drawn by an InitFunc (NormalInit is
// transformers' initialisation) instead of read from a checkpoint;
// WriteInitialized saves it as a model directory that Load reads back. The
// builders are thus the one place that knows an architecture's weight names.
//
// Training helpers shared by the architectures: SetGradientCheckpointing
// (blocks keep only their input and are recomputed in the backward pass,
// through ForwardBlocks and BackwardBlocks), StoreBaseBF16 (frozen linear
// weights in bfloat16), WriteDir and the KV cache for generation.
package model
