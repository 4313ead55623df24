//go:build linux && amd64

package llamacpp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"

	"github.com/orthotune/orthotune/tensor"
)

// Library is llama.cpp's shared library, loaded (see Open).
type Library struct {
	dir string

	version         func() string
	printSystemInfo func() string
	maxDevices      func() uintptr
	devCount        func() uintptr

	modelDefaultParams   func() modelParams
	contextDefaultParams func() contextParams

	modelLoadFromFile func(path string, p modelParams) uintptr
	modelFree         func(model uintptr)
	modelGetVocab     func(model uintptr) uintptr
	modelMetaValStr   func(model uintptr, key string, buf *byte, size uintptr) int32
	modelNCtxTrain    func(model uintptr) int32
	modelNEmbd        func(model uintptr) int32
	modelNLayer       func(model uintptr) int32

	vocabNTokens  func(vocab uintptr) int32
	vocabBOS      func(vocab uintptr) int32
	vocabEOS      func(vocab uintptr) int32
	vocabAddBOS   func(vocab uintptr) bool
	vocabAddEOS   func(vocab uintptr) bool
	vocabIsEOG    func(vocab uintptr, token int32) bool
	tokenize      func(vocab uintptr, text *byte, textLen int32, tokens *int32, nTokensMax int32, addSpecial, parseSpecial bool) int32
	tokenToPiece  func(vocab uintptr, token int32, buf *byte, length int32, lstrip int32, special bool) int32
	initFromModel func(model uintptr, p contextParams) uintptr
	free          func(ctx uintptr)
	nCtx          func(ctx uintptr) uint32
	nBatch        func(ctx uintptr) uint32
	nUbatch       func(ctx uintptr) uint32
	nSeqMax       func(ctx uintptr) uint32
	nThreads      func(ctx uintptr) int32
	nThreadsBatch func(ctx uintptr) int32
	batchInit     func(nTokens, embd, nSeqMax int32) batch
	batchFree     func(b batch)
	decode        func(ctx uintptr, b batch) int32
	getLogitsIth  func(ctx uintptr, i int32) *float32
}

var (
	openMu  sync.Mutex
	openLib *Library
)

// Open loads llama.cpp from dir, the bins/linux-x64 directory of the npm
// package PinnedPackage, loads ggml's CPU backends from the same directory
// (ggml picks the variant for this CPU), routes the library's log to slog
// and checks that the library's struct layouts are the ones this package
// mirrors. The libraries stay loaded for the life of the process; Open with
// the same directory again returns the same Library.
func Open(dir string) (*Library, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("llamacpp: %w", err)
	}
	openMu.Lock()
	defer openMu.Unlock()
	if openLib != nil {
		if openLib.dir != abs {
			return nil, fmt.Errorf("llamacpp: llama.cpp is already loaded from %s in this process; cannot load it from %s too", openLib.dir, abs)
		}
		return openLib, nil
	}
	lib, err := open(abs)
	if err != nil {
		return nil, err
	}
	openLib = lib
	return lib, nil
}

func open(dir string) (*Library, error) {
	llamaPath := filepath.Join(dir, libLlamaName)
	if _, err := os.Stat(llamaPath); err != nil {
		return nil, fmt.Errorf("llamacpp: %w (want the bins/linux-x64 directory of npm package %s)", err, PinnedPackage)
	}
	// libllama's RUNPATH is $ORIGIN, so its libggml and libggml-base come
	// from the same directory.
	hLlama, err := purego.Dlopen(llamaPath, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("llamacpp: loading %s: %w", llamaPath, err)
	}
	hGGML, err := purego.Dlopen(filepath.Join(dir, libGGMLName), purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("llamacpp: loading %s: %w", libGGMLName, err)
	}
	l := &Library{dir: dir}
	var logSet func(cb, userData uintptr)
	var backendInit func()
	var loadAllFromPath func(dir string)
	binds := []struct {
		h    uintptr
		name string
		fn   any
	}{
		{hLlama, "llama_log_set", &logSet},
		{hLlama, "llama_backend_init", &backendInit},
		{hLlama, "llama_version", &l.version},
		{hLlama, "llama_print_system_info", &l.printSystemInfo},
		{hLlama, "llama_max_devices", &l.maxDevices},
		{hLlama, "llama_model_default_params", &l.modelDefaultParams},
		{hLlama, "llama_context_default_params", &l.contextDefaultParams},
		{hLlama, "llama_model_load_from_file", &l.modelLoadFromFile},
		{hLlama, "llama_model_free", &l.modelFree},
		{hLlama, "llama_model_get_vocab", &l.modelGetVocab},
		{hLlama, "llama_model_meta_val_str", &l.modelMetaValStr},
		{hLlama, "llama_model_n_ctx_train", &l.modelNCtxTrain},
		{hLlama, "llama_model_n_embd", &l.modelNEmbd},
		{hLlama, "llama_model_n_layer", &l.modelNLayer},
		{hLlama, "llama_vocab_n_tokens", &l.vocabNTokens},
		{hLlama, "llama_vocab_bos", &l.vocabBOS},
		{hLlama, "llama_vocab_eos", &l.vocabEOS},
		{hLlama, "llama_vocab_get_add_bos", &l.vocabAddBOS},
		{hLlama, "llama_vocab_get_add_eos", &l.vocabAddEOS},
		{hLlama, "llama_vocab_is_eog", &l.vocabIsEOG},
		{hLlama, "llama_tokenize", &l.tokenize},
		{hLlama, "llama_token_to_piece", &l.tokenToPiece},
		{hLlama, "llama_init_from_model", &l.initFromModel},
		{hLlama, "llama_free", &l.free},
		{hLlama, "llama_n_ctx", &l.nCtx},
		{hLlama, "llama_n_batch", &l.nBatch},
		{hLlama, "llama_n_ubatch", &l.nUbatch},
		{hLlama, "llama_n_seq_max", &l.nSeqMax},
		{hLlama, "llama_n_threads", &l.nThreads},
		{hLlama, "llama_n_threads_batch", &l.nThreadsBatch},
		{hLlama, "llama_batch_init", &l.batchInit},
		{hLlama, "llama_batch_free", &l.batchFree},
		{hLlama, "llama_decode", &l.decode},
		{hLlama, "llama_get_logits_ith", &l.getLogitsIth},
		{hGGML, "ggml_backend_load_all_from_path", &loadAllFromPath},
		{hGGML, "ggml_backend_dev_count", &l.devCount},
	}
	for _, b := range binds {
		sym, err := purego.Dlsym(b.h, b.name)
		if err != nil {
			return nil, fmt.Errorf("llamacpp: %s: %w (not the build of %s?)", b.name, err, PinnedPackage)
		}
		purego.RegisterFunc(b.fn, sym)
	}

	if err := checkDefaults(l.modelDefaultParams(), l.contextDefaultParams()); err != nil {
		return nil, fmt.Errorf("llamacpp: %s: %w", llamaPath, err)
	}
	// The log first (llama_log_set sets ggml's too), so that loading the
	// backends does not print to stderr.
	logSet(logCallback(), 0)
	loadAllFromPath(dir)
	if l.devCount() == 0 {
		return nil, fmt.Errorf("llamacpp: no ggml backend could be loaded from %s (want libggml-cpu-*.so there)%s", dir, recentLog())
	}
	backendInit()
	return l, nil
}

// Dir is the directory the library was loaded from.
func (l *Library) Dir() string { return l.dir }

// Version is llama_version(), e.g. "0.4.0-dev".
func (l *Library) Version() string { return l.version() }

// SystemInfo is llama_print_system_info(): the CPU features the loaded
// backend uses.
func (l *Library) SystemInfo() string { return l.printSystemInfo() }

// MaxDevices is llama_max_devices().
func (l *Library) MaxDevices() int { return int(l.maxDevices()) }

// Devices is the number of ggml backend devices loaded (at least the CPU).
func (l *Library) Devices() int { return int(l.devCount()) }

// The log. llama.cpp calls back with a level, a piece of text (a line, or
// the continuation of one) and the user data given to llama_log_set.
var (
	logOnce sync.Once
	logCB   uintptr

	logMu     sync.Mutex
	logRecent []string // lines at warning level or above, the last maxRecentLog
	logPiece  strings.Builder
	logLevel  int32
)

const maxRecentLog = 16

func logCallback() uintptr {
	logOnce.Do(func() {
		logCB = purego.NewCallback(func(level int32, text *byte, _ unsafe.Pointer) {
			logText(level, goString(text))
		})
	})
	return logCB
}

// logText assembles lines from llama.cpp's pieces and hands each to slog
// at debug level, keeping the last warnings and errors for error messages.
func logText(level int32, text string) {
	logMu.Lock()
	defer logMu.Unlock()
	if level != ggmlLogLevelContinue {
		logLevel = level
	}
	logPiece.WriteString(text)
	if !strings.HasSuffix(text, "\n") {
		return
	}
	line := strings.TrimRight(logPiece.String(), "\n")
	logPiece.Reset()
	slog.Log(context.Background(), slog.LevelDebug, "llama.cpp", "level", logLevel, "msg", line)
	if logLevel == ggmlLogLevelWarn || logLevel == ggmlLogLevelError {
		logRecent = append(logRecent, line)
		if len(logRecent) > maxRecentLog {
			logRecent = logRecent[len(logRecent)-maxRecentLog:]
		}
	}
}

// recentLog returns the warnings and errors llama.cpp logged since the
// last call, formatted to end an error message, and forgets them.
func recentLog() string {
	logMu.Lock()
	defer logMu.Unlock()
	if len(logRecent) == 0 {
		return ""
	}
	s := "; llama.cpp said: " + strings.Join(logRecent, " | ")
	logRecent = nil
	return s
}

func clearLog() {
	logMu.Lock()
	logRecent = nil
	logMu.Unlock()
}

// goString copies the NUL-terminated C string at p.
func goString(p *byte) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// Model is a GGUF model loaded by llama.cpp, for computing on the CPU.
type Model struct {
	lib   *Library
	mu    sync.Mutex
	path  string
	model uintptr // struct llama_model *; 0 once closed
	vocab uintptr // const struct llama_vocab *
	nVoc  int

	// Read at load, so that they stay valid after Close.
	bos, eos               int
	addBOS, addEOS         bool
	nCtxTrain, nEmbd, nLay int

	cleanup runtime.Cleanup // frees model if m is dropped unclosed
}

// LoadModel loads the GGUF file at path with llama.cpp's default model
// parameters (memory-mapped; every layer on the CPU, the only device of
// the pinned build).
func (l *Library) LoadModel(path string) (*Model, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("llamacpp: %w", err)
	}
	p := l.modelDefaultParams()
	p.nGPULayers = 0
	clearLog()
	m := l.modelLoadFromFile(path, p)
	if m == 0 {
		return nil, fmt.Errorf("llamacpp: llama.cpp could not load %s%s", path, recentLog())
	}
	vocab := l.modelGetVocab(m)
	n := int(l.vocabNTokens(vocab))
	if vocab == 0 || n <= 0 {
		l.modelFree(m)
		return nil, fmt.Errorf("llamacpp: %s: llama.cpp loaded no vocabulary", path)
	}
	model := &Model{lib: l, path: path, model: m, vocab: vocab, nVoc: n,
		bos: int(l.vocabBOS(vocab)), eos: int(l.vocabEOS(vocab)), addBOS: l.vocabAddBOS(vocab), addEOS: l.vocabAddEOS(vocab),
		nCtxTrain: int(l.modelNCtxTrain(m)), nEmbd: int(l.modelNEmbd(m)), nLay: int(l.modelNLayer(m))}
	model.cleanup = runtime.AddCleanup(model, func(m uintptr) { l.modelFree(m) }, m)
	return model, nil
}

// ErrClosed is returned by the methods of a closed Model.
var ErrClosed = errors.New("llamacpp: model is closed")

// Close frees the model. It is safe to call more than once.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.model != 0 {
		m.cleanup.Stop()
		m.lib.modelFree(m.model)
		m.model = 0
	}
	return nil
}

// lock locks m and reports ErrClosed when it is closed.
func (m *Model) lock() error {
	m.mu.Lock()
	if m.model == 0 {
		m.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// VocabSize is llama_vocab_n_tokens: the number of token ids, and the
// length of each row of logits.
func (m *Model) VocabSize() int { return m.nVoc }

// BOS and EOS are the vocabulary's beginning- and end-of-sequence ids (-1
// when it has none); AddBOS and AddEOS whether tokenising with addSpecial
// adds them.
func (m *Model) BOS() int     { return m.bos }
func (m *Model) EOS() int     { return m.eos }
func (m *Model) AddBOS() bool { return m.addBOS }
func (m *Model) AddEOS() bool { return m.addEOS }

// IsEOG reports whether id ends generation (EOS, EOT and the like); false
// for an id outside the vocabulary or once the model is closed.
func (m *Model) IsEOG(id int) bool {
	if err := m.lock(); err != nil {
		return false
	}
	defer m.mu.Unlock()
	return id >= 0 && id < m.nVoc && m.lib.vocabIsEOG(m.vocab, int32(id))
}

// Shape is the model's context length in training, embedding width and
// block count, as llama.cpp read them.
func (m *Model) Shape() (nCtxTrain, nEmbd, nLayer int) { return m.nCtxTrain, m.nEmbd, m.nLay }

// Meta returns the metadata value of key as llama.cpp formats it (arrays
// are not supported), and whether the key exists.
func (m *Model) Meta(key string) (string, bool) {
	if err := m.lock(); err != nil {
		return "", false
	}
	defer m.mu.Unlock()
	buf := make([]byte, 256)
	for {
		n := m.lib.modelMetaValStr(m.model, key, &buf[0], uintptr(len(buf)))
		if n < 0 {
			return "", false
		}
		if int(n) < len(buf) {
			return string(buf[:n]), true
		}
		buf = make([]byte, int(n)+1)
	}
}

// Tokenize tokenises text with the model's vocabulary. addSpecial adds the
// BOS/EOS tokens the vocabulary asks for; parseSpecial lets the text spell
// special tokens (as "<|endoftext|>"), otherwise they are tokenised as
// plain text.
func (m *Model) Tokenize(text string, addSpecial, parseSpecial bool) ([]int, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if len(text) > 1<<30 {
		return nil, fmt.Errorf("llamacpp: text of %d bytes is too long to tokenise", len(text))
	}
	cText := make([]byte, len(text)+1)
	copy(cText, text)
	toks := make([]int32, len(text)+8)
	for {
		n := m.lib.tokenize(m.vocab, &cText[0], int32(len(text)), &toks[0], int32(len(toks)), addSpecial, parseSpecial)
		if n >= 0 {
			out := make([]int, n)
			for i := range out {
				out[i] = int(toks[i])
			}
			return out, nil
		}
		if int(-n) <= len(toks) {
			return nil, fmt.Errorf("llamacpp: llama_tokenize failed (%d)%s", n, recentLog())
		}
		toks = make([]int32, -n)
	}
}

// Piece is the text of token id (special tokens spelled out).
func (m *Model) Piece(id int) (string, error) {
	if err := m.lock(); err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	if err := m.checkIDs([]int{id}); err != nil {
		return "", err
	}
	buf := make([]byte, 64)
	for {
		n := m.lib.tokenToPiece(m.vocab, int32(id), &buf[0], int32(len(buf)), 0, true)
		if n >= 0 {
			return string(buf[:n]), nil
		}
		buf = make([]byte, -n)
	}
}

func (m *Model) checkIDs(ids []int) error {
	for i, id := range ids {
		if id < 0 || id >= m.nVoc {
			return fmt.Errorf("llamacpp: token %d at position %d is outside the vocabulary [0, %d)", id, i, m.nVoc)
		}
	}
	return nil
}

// Logits runs ids as one sequence, from position 0 in a fresh context, and
// returns the logits after every position: len(ids) rows of VocabSize.
// len(ids) may not exceed the model's context length (Shape).
func (m *Model) Logits(ids []int) ([][]float32, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if len(ids) == 0 {
		return nil, errors.New("llamacpp: Logits of no tokens")
	}
	if err := m.checkIDs(ids); err != nil {
		return nil, err
	}
	ctx, err := m.newContext(len(ids), len(ids))
	if err != nil {
		return nil, err
	}
	defer m.lib.free(ctx)
	if err := m.decode(ctx, ids, 0, true); err != nil {
		return nil, err
	}
	out := make([][]float32, len(ids))
	for i := range ids {
		if out[i], err = m.logitsAt(ctx, i); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Greedy continues ids (one sequence, a fresh context) by n tokens, each
// the arg-max of the logits (the lowest id among equal maxima), and returns
// the n new ids. It does not stop at an end-of-generation token: the
// caller cuts where it wants (see IsEOG).
func (m *Model) Greedy(ids []int, n int) ([]int, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if len(ids) == 0 {
		return nil, errors.New("llamacpp: Greedy from no tokens")
	}
	if n < 0 {
		return nil, fmt.Errorf("llamacpp: Greedy of %d tokens", n)
	}
	if err := m.checkIDs(ids); err != nil {
		return nil, err
	}
	ctx, err := m.newContext(len(ids)+n, len(ids))
	if err != nil {
		return nil, err
	}
	defer m.lib.free(ctx)
	if err := m.decode(ctx, ids, 0, false); err != nil {
		return nil, err
	}
	out := make([]int, 0, n)
	last := len(ids) - 1 // the output row holding the next token's logits
	for len(out) < n {
		row, err := m.logitsAt(ctx, last)
		if err != nil {
			return nil, err
		}
		next := max(tensor.Argmax(row), 0) // 0 if no logit is above −Inf
		out = append(out, next)
		if len(out) == n {
			break
		}
		if err := m.decode(ctx, []int{next}, len(ids)+len(out)-1, false); err != nil {
			return nil, err
		}
		last = 0
	}
	return out, nil
}

// newContext creates a context for one sequence of up to nTokens tokens,
// decoded nBatch at most at a time, computing in f32 (f32 KV cache, flash
// attention off), on as many threads as GOMAXPROCS. It checks through the
// library's accessors that the context got the sizes asked for, which
// would not hold were contextParams's layout not the library's.
func (m *Model) newContext(nTokens, nBatch int) (uintptr, error) {
	if m.nCtxTrain > 0 && nTokens > m.nCtxTrain {
		// Beyond it llama.cpp aborts the process for a model with learned
		// positions (GPT-2's get_rows assertion) and extrapolates for the rest.
		return 0, fmt.Errorf("llamacpp: %s: %d tokens are more than the model's context length %d", m.path, nTokens, m.nCtxTrain)
	}
	const pad = 256
	p := m.lib.contextDefaultParams()
	p.nCtx = uint32((nTokens + pad - 1) / pad * pad)
	p.nBatch = uint32((nBatch + 63) / 64 * 64)
	p.nUbatch = p.nBatch
	p.nSeqMax = 1
	p.nThreads = int32(runtime.GOMAXPROCS(0))
	p.nThreadsBatch = p.nThreads
	p.flashAttnType = flashAttnDisabled
	p.typeK, p.typeV = ggmlTypeF32, ggmlTypeF32
	p.noPerf = true
	clearLog()
	ctx := m.lib.initFromModel(m.model, p)
	if ctx == 0 {
		return 0, fmt.Errorf("llamacpp: %s: llama.cpp could not create a context of %d tokens%s", m.path, p.nCtx, recentLog())
	}
	got := [...]int64{int64(m.lib.nCtx(ctx)), int64(m.lib.nBatch(ctx)), int64(m.lib.nUbatch(ctx)), int64(m.lib.nSeqMax(ctx)), int64(m.lib.nThreads(ctx)), int64(m.lib.nThreadsBatch(ctx))}
	want := [...]int64{int64(p.nCtx), int64(p.nBatch), int64(p.nUbatch), 1, int64(p.nThreads), int64(p.nThreads)}
	if got != want {
		m.lib.free(ctx)
		return 0, fmt.Errorf("llamacpp: the context has n_ctx, n_batch, n_ubatch, n_seq_max, n_threads, n_threads_batch = %v, asked for %v: llama_context_params's layout is not this build's", got, want)
	}
	return ctx, nil
}

// decode runs ids at positions pos0, pos0+1, … of sequence 0, asking for
// the logits of every token (all) or of the last only.
func (m *Model) decode(ctx uintptr, ids []int, pos0 int, all bool) error {
	b := m.lib.batchInit(int32(len(ids)), 0, 1)
	defer m.lib.batchFree(b)
	tok := unsafe.Slice(b.token, len(ids))
	pos := unsafe.Slice(b.pos, len(ids))
	nSeq := unsafe.Slice(b.nSeqID, len(ids))
	seq := unsafe.Slice(b.seqID, len(ids))
	logits := unsafe.Slice(b.logits, len(ids))
	for i, id := range ids {
		tok[i] = int32(id)
		pos[i] = int32(pos0 + i)
		nSeq[i] = 1
		*seq[i] = 0
		logits[i] = 0
		if all || i == len(ids)-1 {
			logits[i] = 1
		}
	}
	b.nTokens = int32(len(ids))
	clearLog()
	if rc := m.lib.decode(ctx, b); rc != 0 {
		return fmt.Errorf("llamacpp: %s: llama_decode of %d tokens at position %d returned %d%s", m.path, len(ids), pos0, rc, recentLog())
	}
	return nil
}

// logitsAt copies the logits of output row i of the last decode.
func (m *Model) logitsAt(ctx uintptr, i int) ([]float32, error) {
	p := m.lib.getLogitsIth(ctx, int32(i))
	if p == nil {
		return nil, fmt.Errorf("llamacpp: %s: no logits for output %d%s", m.path, i, recentLog())
	}
	return append([]float32(nil), unsafe.Slice(p, m.nVoc)...), nil
}
