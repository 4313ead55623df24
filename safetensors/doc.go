// Package safetensors reads and writes tensors in the safetensors format used
// by Hugging Face checkpoints, and opens sharded checkpoints described by a
// model.safetensors.index.json file.
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of
// UTF-8 JSON describing each tensor (dtype, shape and data_offsets relative to
// the data section) plus an optional "__metadata__" string map, and then the
// data section holding the raw little-endian tensor bytes. Open memory-maps a
// file read-only (on unix; elsewhere it reads the file into memory) and
// validates the whole header before returning, so a File that opened
// successfully never panics on a malformed tensor: every error names the file
// and, where it applies, the tensor and the offending field.
//
// Validation follows Hugging Face's reference (Rust) implementation: tensors
// must not overlap, and, taken in offset order, they must be contiguous and
// cover the data section exactly, with no gaps or trailing bytes. Files
// written by the Python and Rust libraries always satisfy this; files that
// alias one buffer between two tensors are rejected.
//
// Float32 and Int64 copy tensor data into freshly allocated slices, converting
// F16, BF16 and F64 to float32 and narrower integers to int64, so results stay
// valid after Close. Write produces files in the same layout the reference
// writer does (sorted tensor names, header padded with spaces so the data
// section starts on an 8-byte boundary) and replaces the destination
// atomically.
package safetensors
