// Package testmodel writes tiny Hugging Face model directories (config.json
// plus model.safetensors with seeded random weights) for tests, so every
// architecture and option the loaders accept can be exercised through the
// same loading code users run, without downloading anything.
package testmodel
