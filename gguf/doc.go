// Package gguf writes and reads GGUF version 3 files, the single-file model
// format of llama.cpp and Ollama.
//
// A file is a header (magic "GGUF", version 3, the tensor count and the
// metadata count), the metadata key-value pairs, one info per tensor (name,
// dimensions, type, offset), padding to the alignment, and the tensor data,
// each tensor starting at a multiple of the alignment ("general.alignment",
// 32 unless set). Everything is little-endian. Dimensions are in ggml's
// order: the first is the one whose elements are contiguous, so a Hugging
// Face weight of shape [out, in] is a GGUF tensor of dimensions [in, out].
//
// Writer streams a file to any io.Writer: metadata and tensor infos are
// declared first, then the header is written and the tensors' data follow
// in the order they were declared, converted from float32 to the declared
// type. File (Open, Read) reads the metadata and tensor infos and decodes
// tensor data back to float32; malformed input of any kind is an error,
// never a panic or an allocation out of proportion to the input.
//
// Tensor types: F32, F16 (IEEE half, rounded to nearest even), BF16 (rounded
// to nearest even) and Q8_0 (blocks of 32 values: an fp16 scale d =
// max|x|/127 and 32 int8 q = round(x/d), half away from zero, as ggml's
// quantize_row_q8_0_ref computes them; x ≈ d·q).
//
// Metadata values are Go values of the GGUF types: uint8, int8, uint16,
// int16, uint32, int32, float32, bool, string, uint64, int64, float64, and
// slices of any of these as arrays. Nested arrays are not supported (llama.cpp
// does not read them either).
package gguf
