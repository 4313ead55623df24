// Package testmodel writes tiny Hugging Face model directories (config.json
// plus model.safetensors with seeded random weights) for tests, so every
// architecture and option the loaders accept can be exercised through the
// same loading code users run, without downloading anything.
//
// It builds on model.NewInitialized and model.WriteInitialized: the
// architecture's registered builder asks for the weights by name and shape,
// so this package does not spell checkpoint names (except the legacy GPT-2
// layout of Spec.NoPrefix, whose names it rewrites).
package testmodel
