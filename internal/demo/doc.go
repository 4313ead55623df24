// Package demo is `orthotune demo`: Run pretrains a small base model once
// (cached), fine-tunes an OFT adapter on a task with finetune.Run, and
// evaluates and queries the base and the adapted model. It holds what that
// needs and nothing can download here: a text corpus and a fine-tuning
// task, generated deterministically by code, and a freshly initialised
// Llama-architecture model directory to pretrain on the corpus. The model is built with model.NewInitialized
// through the Llama builder, which names the weights, and written with
// model.WriteInitialized.
//
// The corpus describes a small world in simple sentences (animals, people,
// places, colours, counting) so that a model of a few hundred thousand
// parameters learns its grammar in a minute on two cores. The task teaches
// facts the corpus never states — each object's colour — after three
// different lead-ins; training uses two of them and evaluation the third,
// so a fall in evaluation loss means the fine-tune learned the facts, not
// the wording around them.
package demo
