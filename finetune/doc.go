// Package finetune is the whole fine-tuning pipeline as one library call:
// a model directory, data, an adapter method's config and the training
// settings in a Job; Run turns it into an output directory — the PEFT
// adapter (or, for full fine-tuning, the model), trainer_state.json,
// metrics.jsonl, loss.svg and train_config.json — exactly as
// `orthotune train` writes it, which is a thin mapping of flags onto Run.
//
// Run loads the model (model.Load) and its tokenizer, reads the JSONL data
// (data.ReadJSONL: text, prompt/completion, chat messages rendered with
// the model's chat template, or token ids), holds out a validation split,
// packs if asked, attaches a fresh adapter of the configured method
// (peft), optionally holds the frozen base in bfloat16, resumes from a
// checkpoint if asked and trains (train.Trainer). A Reporter follows the
// run; cancelling the context stops it between two steps with a
// checkpoint from which a resumed run finishes bit-identical to one never
// interrupted. Nothing is written before every input has been checked.
//
// Beside Run: Evaluate (loss and perplexity of a model, with or without an
// adapter, on a data set), LoadAdapted and LoadForInference (a model with
// a PEFT adapter attached), and Bench (training throughput and memory of a
// randomly initialised model, model.NewInitialized).
//
// The package holds no method knowledge: methods come from the peft
// registry (import peft/oft, peft/lora, …), so a method registered in any
// package trains, saves, loads and merges through this pipeline.
package finetune
