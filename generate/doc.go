// Package generate produces text, as token ids, from a causal language
// model: a Sampler turns one row of logits into the next token (greedy, or
// temperature, top-k and top-p sampling in transformers' order, with a
// float64 softmax), and Run runs the loop on a model.Decoder — the
// prompt once into a key/value cache, then one cached step per new token —
// with a seed, stop ids (EOS) and a streaming callback, and says why it
// stopped (Generate is Run without the reason). Models with an adapter
// installed (package peft) generate through it.
package generate
