// Package peft attaches parameter-efficient adapters to a model's named
// linear layers exactly as Hugging Face PEFT does, and reads and writes
// PEFT adapter directories (adapter_config.json + adapter_model.safetensors)
// so adapters move between orthotune and PyTorch in both directions.
//
// A method is a package of its own (peft/oft, peft/lora) that registers a
// Method from its init function: its name, peft_type, config constructor
// and parser. Its config implements Config (validation, layer
// construction, loading a layer from stored tensors, the shape those
// imply) and declares in struct tags the settings users set by name —
// flag, PEFT field name, help text, default — from which the command line
// derives its flags and settings-file keys (Settings). Its layers
// implement Layer: forward, backward, merge and exact unmerge, replicas
// for data-parallel steps, per-step sharing, a random stream for dropout
// (LayerCore keeps that bookkeeping once for every method), and the
// diagnostics inspection reports. Adding a method is its folder plus one
// import line.
//
// The package owns what every method shares: PEFT's target matching
// (target_modules as a list of names or dotted suffixes, a whole-name
// regex, or "all-linear"; exclude_modules; layers_to_transform with
// layers_pattern) and PEFT's default targets per architecture, injection,
// several named adapters on one model with one active (Model, which runs
// as the wrapped model does: a model.LossModel and a model.Decoder),
// merging for export, the directory format, and inspection (InspectDir,
// InspectOnModel).
package peft
