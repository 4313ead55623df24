// Package llamacpp runs llama.cpp's own library from Go, so that tests can
// check what orthotune exports (GGUF files) against the program people serve
// them with. It loads the shared libraries at run time with purego (no cgo)
// from the prebuilt CPU build that the npm package @node-llama-cpp/linux-x64
// ships, pinned to version 3.21.1 (PinnedPackage): its bins/linux-x64
// directory holds libllama.v0.4.0.so, libggml.v0.4.0.so, libggml-base.so and
// one libggml-cpu-*.so per CPU family, which ggml picks from at run time.
// That build reports llama_version "0.4.0-dev" and, in libllama-common.so,
// LLAMA_COMMIT 5b4ebc5.
//
// # ABI
//
// llama.cpp's C API takes and returns llama_model_params,
// llama_context_params and llama_batch by value. purego v0.11 passes and
// returns structs by value on linux/amd64 (System V: all three are MEMORY
// class, so they are copied to the stack, or returned through a hidden
// pointer), provided the Go struct has the C struct's exact layout. The
// layouts here (abi.go) are those of llama.h at the pinned build, which moved
// past the last tagged headers (llama_model_params has load_mode and
// lazy_mode in place of the use_mmap/use_mlock/use_direct_io booleans and a
// load_mtp flag; llama_context_params has n_outputs_max_per_seq and a
// trailing ctx_other pointer); the offsets were read off the compiled
// llama_model_default_params, llama_context_default_params and
// llama_batch_init (objdump), which store every field. Open checks them at
// run time: the defaults the library returns must be the pinned build's,
// byte for byte where they are known (see checkDefaults), and every context
// created reads n_ctx, n_batch, n_ubatch, n_seq_max and the thread counts
// back through the library's accessors. Another build fails Open or
// LoadModel with an error that says so, never computes with shifted fields.
//
// # Contracts
//
//   - Open(dir) loads the libraries once per process (dlopen is process-wide
//     and llama_backend_init global); a second Open with the same directory
//     returns the same *Library, one with another directory fails. The
//     libraries stay loaded until the process exits: unloading a library
//     whose thread pools may still run is not safe.
//   - llama.cpp's log (and ggml's) goes to log/slog at debug level, never to
//     stderr; the last lines at warning level or above are kept and quoted in
//     the errors of a failed load or decode.
//   - A Model is safe for concurrent use (calls are serialised). Each
//     Logits or Greedy call creates a fresh context (an empty KV cache) sized
//     for the call, with an f32 KV cache and flash attention off, so that
//     f32 models are computed in f32 throughout; the context is freed before
//     the call returns.
//   - Token ids are ints in Go and int32 (llama_token) in C; ids outside
//     [0, VocabSize) are refused before they reach the library.
//   - Errors wrap the underlying cause with %w where there is one.
package llamacpp
