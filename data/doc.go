// Package data turns JSONL files into token sequences for causal-LM
// fine-tuning, and feeds them to a training loop in deterministic,
// resumable batches.
//
// Each line of a dataset is one JSON object in one of four formats:
//
//	{"text": "..."}                               ids = EncodeSpecial(text) + [EOS]; loss on every token
//	{"prompt": "...", "completion": "..."}        ids = EncodeSpecial(prompt) + Encode(completion) + [EOS]; loss on the completion only
//	{"messages": [{"role": "...", "content": "..."}, ...]}
//	                                              ids = Encode(RenderChat(messages)); loss on every token, or
//	                                              with Options.AssistantOnly on each assistant turn's content and end marker only
//	{"input_ids": [...], "labels": [...]}         used as is ("labels" optional, same length, -100 = no loss)
//
// [EOS] is appended only when the tokenizer has one (Tokenizer.EOS). Blank
// lines are skipped, a UTF-8 byte order mark at the start of the file is
// tolerated, fields other than these are ignored, and a field whose value
// is null counts as absent. A record that mixes formats (say "text" and
// "input_ids") is rejected rather than guessed at, and so is a file that
// mixes them: every record of a file has the format of its first. Every
// error names the file and the line ("train.jsonl:17: ..."), and the field
// when one is at fault. Labels follow the Hugging Face convention: they are
// aligned with the input ids and the one-token shift happens in the loss,
// which is what Batch.Targets produces.
//
// Tokenizer and ChatRenderer are small local interfaces, so this package
// depends on no tokenizer implementation; orthotune's tokenizer satisfies
// Tokenizer, and its chat template renderer satisfies ChatRenderer.
//
// Pack concatenates examples into rows of a fixed length (the tail that does
// not fill a row is dropped), Split makes a seeded train/validation split,
// and Loader yields padded batches epoch after epoch. All randomness comes
// from SplitMix64, implemented here, with Fisher–Yates shuffles and unbiased
// bounded draws, so a seed gives the same order on every platform and Go
// version, and Loader.Seek resumes a run exactly where a checkpoint left it.
package data
