// Package peft attaches parameter-efficient adapters to a model's named
// linear layers exactly as Hugging Face PEFT does, and reads and writes
// PEFT adapter directories (adapter_config.json + adapter_model.safetensors)
// so adapters move between orthotune and PyTorch in both directions.
//
// It owns what every method shares: the Config and Layer contracts each
// method implements (see peft/oft and peft/lora, which register
// themselves by peft_type when imported), PEFT's target matching
// (target_modules as a list of names or dotted suffixes, a whole-name
// regex, or "all-linear"; exclude_modules; layers_to_transform with
// layers_pattern), injection, several named adapters on one model with one
// active, merging for export, and the directory format.
package peft
