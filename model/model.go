package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/orthotune/orthotune/nn"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// CausalLM is a decoder-only language model with a forward and a backward
// pass.
type CausalLM interface {
	// Info describes the architecture.
	Info() Info
	// Forward returns logits [batch, seq, vocab] for token ids laid out
	// [batch][seq]; every row must have the same length. It validates the
	// ids (see CheckIDs).
	Forward(ids [][]int) (*tensor.Tensor, error)
	// ForwardEmbeddings runs the model from input embeddings [batch, seq,
	// hidden] (transformers' inputs_embeds) instead of token ids.
	ForwardEmbeddings(x *tensor.Tensor) (*tensor.Tensor, error)
	// Backward takes dL/dlogits for the last forward, accumulates the
	// gradients of trainable parameters, and returns dL/d(input
	// embeddings) [batch, seq, hidden].
	Backward(dlogits *tensor.Tensor) *tensor.Tensor
	// Linears lists the model's linear layers in checkpoint order.
	Linears() []*LinearSlot
	// Params lists every weight, named as in the checkpoint. Tied weights
	// appear once.
	Params() []*nn.Param
}

// Info summarises a loaded model.
type Info struct {
	ModelType        string         // config.json model_type
	Layers           int            // decoder blocks
	Hidden           int            // residual width
	Heads, KVHeads   int            // attention heads, key/value heads
	HeadDim          int            // width of one head
	Intermediate     int            // MLP width
	Vocab            int            // vocabulary size
	MaxPositions     int            // context length from the config
	TiedEmbeddings   bool           // output head shares the input embedding
	Parameters       int            // distinct weight elements
	CheckpointDTypes map[string]int // dtype on disk → tensor count
}

// LinearSlot is a named linear layer of a model. The model's forward and
// backward always go through Layer; it starts as Base and an adapter
// replaces it with a wrapper around Base.
type LinearSlot struct {
	Name  string     // module path, e.g. "model.layers.0.self_attn.q_proj"
	Base  *nn.Linear // the checkpoint's layer
	Layer nn.Layer   // what runs: Base, or an adapter wrapping it
	// Head marks the output projection, which PEFT's "all-linear" skips.
	Head bool
}

// NewSlot returns a slot whose Layer is its Base.
func NewSlot(l *nn.Linear) *LinearSlot { return &LinearSlot{Name: l.Name, Base: l, Layer: l} }

// Builder constructs a model of one architecture from its parsed config and
// its weights: a checkpoint's (Load) or freshly drawn ones
// (NewInitialized). It asks w for every weight by checkpoint name and
// shape, so it is the one place that knows the architecture's names.
type Builder func(cfg *Config, w *Weights) (CausalLM, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Builder{}
)

// Register makes a builder available for a config.json model_type. It
// panics on a duplicate, as registering twice is a programming error.
func Register(modelType string, b Builder) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[modelType]; dup {
		panic("model: Register called twice for " + modelType)
	}
	registry[modelType] = b
}

// ModelTypes returns the registered model_type values, sorted.
func ModelTypes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Load reads dir/config.json and the checkpoint beside it
// (model.safetensors, or shards listed in model.safetensors.index.json) and
// builds the model. Half-precision weights are converted to float32. Every
// weight starts frozen.
func Load(dir string) (CausalLM, error) {
	cfg, err := ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	build, err := builderFor(cfg)
	if err != nil {
		return nil, err
	}
	w, err := OpenWeights(dir)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	m, err := build(cfg, w)
	if err != nil {
		return nil, err
	}
	for _, name := range w.Unused() {
		slog.Warn("checkpoint tensor not used by the model", "tensor", name, "file", w.fileOf(name))
	}
	return m, nil
}

// builderFor returns the registered Builder for cfg's model_type.
func builderFor(cfg *Config) (Builder, error) {
	modelType, err := cfg.String("model_type")
	if err != nil {
		return nil, err
	}
	registryMu.RLock()
	build, ok := registry[modelType]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%s: model_type %q is not supported (supported: %s)", cfg.Path, modelType, strings.Join(ModelTypes(), ", "))
	}
	return build, nil
}

// RopeScaling is the rotary scaling a config.json asks for (rope_scaling,
// or a rope_parameters object), as an architecture's config reader applied
// it to the inverse frequencies: Type "" (none given), "default", "linear"
// (frequencies divided by Factor) or "llama3" (Factor and its frequency
// bands). Exporters read it rather than config.json again.
type RopeScaling struct {
	Type   string
	Factor float64 // linear, llama3; 0 otherwise
}

// Config is a parsed config.json with typed, error-reporting accessors.
// JSON null counts as absent.
type Config struct {
	Path string
	raw  map[string]json.RawMessage
	data []byte // the bytes ParseConfig read, for WriteInitialized
}

// ReadConfig parses a config.json file.
func ReadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig parses config.json bytes; path is used in messages. The
// Config keeps its own copy of data, which WriteInitialized writes back
// unchanged.
func ParseConfig(path string, data []byte) (*Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w", path, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("%s: not a JSON object", path)
	}
	return &Config{Path: path, raw: raw, data: slices.Clone(data)}, nil
}

// ErrMissingField reports a required config field that is absent.
var ErrMissingField = errors.New("missing required field")

// Has reports whether field is present and not null.
func (c *Config) Has(field string) bool {
	v, ok := c.raw[field]
	return ok && string(v) != "null"
}

// Null reports whether field is present with the value null, which some
// architectures read differently from an absent field (one absent takes
// the config class's default, null means none).
func (c *Config) Null(field string) bool {
	v, ok := c.raw[field]
	return ok && string(v) == "null"
}

func (c *Config) decode(field string, dst any, kind string) error {
	if !c.Has(field) {
		return fmt.Errorf("%s: field %q: %w", c.Path, field, ErrMissingField)
	}
	if err := json.Unmarshal(c.raw[field], dst); err != nil {
		return fmt.Errorf("%s: field %q: want %s, got %s", c.Path, field, kind, c.raw[field])
	}
	return nil
}

// String returns a required string field.
func (c *Config) String(field string) (string, error) {
	var s string
	err := c.decode(field, &s, "a string")
	return s, err
}

// Strings returns a required field that is an array of strings.
func (c *Config) Strings(field string) ([]string, error) {
	var s []string
	err := c.decode(field, &s, "an array of strings")
	return s, err
}

// StringsOr returns an optional array-of-strings field, def when absent
// (or null).
func (c *Config) StringsOr(field string, def []string) ([]string, error) {
	if !c.Has(field) {
		return def, nil
	}
	return c.Strings(field)
}

// Int returns a required positive integer field.
func (c *Config) Int(field string) (int, error) {
	var f float64
	if err := c.decode(field, &f, "a positive integer"); err != nil {
		return 0, err
	}
	if f != float64(int(f)) || f <= 0 || f > 1<<40 {
		return 0, fmt.Errorf("%s: field %q: want a positive integer, got %s", c.Path, field, c.raw[field])
	}
	return int(f), nil
}

// IntOr returns an optional positive integer field, def when absent.
func (c *Config) IntOr(field string, def int) (int, error) {
	if !c.Has(field) {
		return def, nil
	}
	return c.Int(field)
}

// Float returns a required number field. A number too large for a 64-bit
// float (1e999) is refused as not finite.
func (c *Config) Float(field string) (float64, error) {
	var f float64
	if err := c.decode(field, &f, "a number"); err != nil {
		if raw := c.raw[field]; c.Has(field) && isJSONNumber(raw) {
			return 0, fmt.Errorf("%s: field %q = %s: want a finite number", c.Path, field, raw)
		}
		return 0, err
	}
	return f, nil
}

// isJSONNumber reports whether raw is a number literal (valid JSON, as it
// came from a parsed object).
func isJSONNumber(raw json.RawMessage) bool {
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

// PositiveFloat returns a required number field that must be finite and
// greater than zero (an epsilon, a base, a scaling factor).
func (c *Config) PositiveFloat(field string) (float64, error) {
	f, err := c.Float(field)
	if err != nil {
		return 0, err
	}
	if !(f > 0) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%s: field %q = %s: want > 0", c.Path, field, c.raw[field])
	}
	return f, nil
}

// PositiveFloatOr returns an optional PositiveFloat field, def when absent.
func (c *Config) PositiveFloatOr(field string, def float64) (float64, error) {
	if !c.Has(field) {
		return def, nil
	}
	return c.PositiveFloat(field)
}

// FloatOr returns an optional number field, def when absent.
func (c *Config) FloatOr(field string, def float64) (float64, error) {
	if !c.Has(field) {
		return def, nil
	}
	return c.Float(field)
}

// BoolOr returns an optional boolean field, def when absent.
func (c *Config) BoolOr(field string, def bool) (bool, error) {
	if !c.Has(field) {
		return def, nil
	}
	var b bool
	err := c.decode(field, &b, "true or false")
	return b, err
}

// StringOr returns an optional string field, def when absent.
func (c *Config) StringOr(field, def string) (string, error) {
	if !c.Has(field) {
		return def, nil
	}
	return c.String(field)
}

// Object returns an optional object field as a nested Config (nil when
// absent); its Path names the parent file and field.
func (c *Config) Object(field string) (*Config, error) {
	if !c.Has(field) {
		return nil, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(c.raw[field], &raw); err != nil {
		return nil, fmt.Errorf("%s: field %q: want an object, got %s", c.Path, field, c.raw[field])
	}
	return &Config{Path: c.Path + ": field " + field, raw: raw}, nil
}

// Size limits on what a config.json may imply, checked from the config
// alone before anything is read or allocated (see Config.Elements).
const (
	// MaxTensorElements bounds one weight or buffer: 2^32 elements, 16 GiB
	// of float32, twice the largest tensor of published Llama-family
	// checkpoints (Llama 3.1 405B's 128256 × 16384 embedding).
	MaxTensorElements = 1 << 32
	// MaxParameters bounds the weights of a whole model: 2^40, 4 TiB of
	// float32.
	MaxParameters = 1 << 40
)

// Dim is one factor of a size a config.json implies: the field it comes
// from and the value the builder took for it (its default when the field
// is absent), or a constant factor when Field is "".
type Dim struct {
	Field string
	N     int
}

// Elements returns the product of dims: the element count of what, a
// tensor or buffer the config implies. It refuses, naming the config file
// and the largest field, a product above limit (MaxTensorElements for one
// tensor) or one that overflows, so that a builder can check sizes before
// it allocates anything.
func (c *Config) Elements(what string, limit int, dims ...Dim) (int, error) {
	n, ok := 1, true
	for _, d := range dims {
		if d.N < 0 || d.N > 0 && n > math.MaxInt/d.N {
			ok = false
			break
		}
		n *= d.N
	}
	if ok && n <= limit {
		return n, nil
	}
	var blame Dim
	product := 1.0
	factors := make([]string, len(dims))
	values := make([]string, len(dims))
	for i, d := range dims {
		product *= float64(d.N)
		factors[i], values[i] = d.Field, fmt.Sprint(d.N)
		if d.Field == "" {
			factors[i] = values[i]
		} else if blame.Field == "" || d.N > blame.N {
			blame = d
		}
	}
	subject := c.Path + ": too large"
	if blame.Field != "" {
		subject = fmt.Sprintf("%s: field %q = %s is too large", c.Path, blame.Field, c.valueOf(blame.Field, blame.N))
	}
	return 0, fmt.Errorf("%s: %s would hold %s = %s = %.3g elements, more than the %d allowed",
		subject, what, strings.Join(factors, " × "), strings.Join(values, " × "), product, limit)
}

// valueOf returns field's value as config.json spells it, or def with a
// note when the field is absent.
func (c *Config) valueOf(field string, def int) string {
	if c.Has(field) {
		return string(c.raw[field])
	}
	return fmt.Sprintf("%d (absent, the default)", def)
}

// Weights hands a Builder its weights from one of two sources: a
// checkpoint (Load), where each tensor must exist with the shape the config
// implies, or an InitFunc (NewInitialized), which draws each weight when it
// is asked for. Either way it records which weights were used.
type Weights struct {
	ckpt    *safetensors.Checkpoint // nil when the weights are drawn by init
	init    InitFunc
	used    map[string]bool // loaded or drawn by Get
	skipped map[string]bool // deliberately ignored
}

// OpenWeights opens the checkpoint in dir (model.safetensors, or the shards
// model.safetensors.index.json lists) for an architecture's constructor, as
// Load does: for building a model whose config was changed in code, e.g.
// gpt2.New with a gpt2.Config read by gpt2.ParseConfig and then edited.
// Close it once the model is built (the model keeps no reference to it).
func OpenWeights(dir string) (*Weights, error) {
	ckpt, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return &Weights{ckpt: ckpt, used: map[string]bool{}, skipped: map[string]bool{}}, nil
}

// Close releases the checkpoint's files; Weights drawn by an InitFunc have
// none.
func (w *Weights) Close() error {
	if w.ckpt == nil {
		return nil
	}
	return w.ckpt.Close()
}

func (w *Weights) fileOf(name string) string {
	if f := w.ckpt.FileOf(name); f != "" {
		return f
	}
	return w.ckpt.Dir()
}

// checkpointFile names the file that lists the checkpoint's tensors: the
// shard index when there is one, else model.safetensors.
func (w *Weights) checkpointFile() string {
	index := filepath.Join(w.ckpt.Dir(), "model.safetensors.index.json")
	if _, err := os.Stat(index); err == nil {
		return index
	}
	return filepath.Join(w.ckpt.Dir(), "model.safetensors")
}

// Has reports whether the checkpoint holds name. Builders use it to tell
// apart the naming variants checkpoints come in. Weights drawn by an
// InitFunc have no checkpoint, so Has reports false and the builder takes
// its standard Hugging Face naming.
func (w *Weights) Has(name string) bool {
	if w.ckpt == nil {
		return false
	}
	_, ok := w.ckpt.Info(name)
	return ok
}

// Get returns weight name as float32 with exactly the given shape: read
// from the checkpoint (an error when it is missing or has another shape),
// or drawn by the InitFunc.
func (w *Weights) Get(name string, shape ...int) (*tensor.Tensor, error) {
	if w.ckpt == nil {
		return w.draw(name, shape)
	}
	info, ok := w.ckpt.Info(name)
	if !ok {
		return nil, fmt.Errorf("%s: tensor %q is missing from the checkpoint", w.checkpointFile(), name)
	}
	if !slices.Equal(info.Shape, shape) {
		return nil, fmt.Errorf("%s: tensor %q has shape %v, config.json implies %v", w.fileOf(name), name, info.Shape, shape)
	}
	t, err := w.ckpt.Float32(name)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if err := CheckFinite(w.fileOf(name), name, t.Data); err != nil {
		return nil, err
	}
	w.used[name] = true
	return t, nil
}

// CheckShape checks, without reading it, that the checkpoint holds tensor
// name with the shape config.json implies through fields, so that a
// builder can refuse a config that disagrees with its checkpoint before it
// allocates anything sized by the config alone. The message names the
// checkpoint file, the tensor, c's file and the fields. It is nil for
// weights drawn by an InitFunc.
func (w *Weights) CheckShape(c *Config, fields []string, name string, shape ...int) error {
	if w.ckpt == nil {
		return nil
	}
	because := make([]string, len(fields))
	for i, f := range fields {
		if c.Has(f) {
			because[i] = fmt.Sprintf("field %q = %s", f, c.raw[f])
		} else {
			because[i] = fmt.Sprintf("field %q absent", f)
		}
	}
	info, ok := w.ckpt.Info(name)
	if !ok {
		return fmt.Errorf("%s: tensor %q is missing from the checkpoint, but %s implies it (%s)", w.checkpointFile(), name, c.Path, strings.Join(because, ", "))
	}
	if !slices.Equal(info.Shape, shape) {
		return fmt.Errorf("%s: tensor %q has shape %v, but %s implies %v (%s)", w.fileOf(name), name, info.Shape, c.Path, shape, strings.Join(because, ", "))
	}
	return nil
}

// CheckFinite returns an error naming file, tensor name and the first
// element of data that is NaN or ±Inf, or nil when every element is
// finite. It is one pass over data.
func CheckFinite(file, name string, data []float32) error {
	for i, v := range data {
		// An all-ones exponent is NaN or ±Inf.
		if math.Float32bits(v)&0x7f800000 == 0x7f800000 {
			what := "NaN"
			if math.IsInf(float64(v), 1) {
				what = "+Inf"
			} else if math.IsInf(float64(v), -1) {
				what = "-Inf"
			}
			return fmt.Errorf("%s: tensor %q holds %s at element %d", file, name, what, i)
		}
	}
	return nil
}

// Skip marks a tensor as deliberately unused (e.g. GPT-2's attn.bias mask
// buffers), so Load does not warn about it.
func (w *Weights) Skip(name string) { w.skipped[name] = true }

// Unused lists checkpoint tensors no Get or Skip asked for; none when the
// weights are drawn by an InitFunc.
func (w *Weights) Unused() []string {
	if w.ckpt == nil {
		return nil
	}
	var out []string
	for _, n := range w.ckpt.Names() {
		if !w.used[n] && !w.skipped[n] {
			out = append(out, n)
		}
	}
	return out
}

// DTypes counts the on-disk dtypes of the tensors loaded; it is empty when
// the weights are drawn by an InitFunc, as nothing was read from disk.
func (w *Weights) DTypes() map[string]int {
	out := map[string]int{}
	if w.ckpt == nil {
		return out
	}
	for n := range w.used {
		if info, ok := w.ckpt.Info(n); ok {
			out[string(info.DType)]++
		}
	}
	return out
}

// CheckIDs validates a batch of token ids: at least one row, rows of equal
// non-zero length, at most maxLen tokens (0 = no limit), every id in
// [0, vocab). Messages name the offending entry as input_ids[row][col].
func CheckIDs(ids [][]int, vocab, maxLen int) error {
	if len(ids) == 0 {
		return errors.New("input_ids is empty: need at least one sequence")
	}
	seq := len(ids[0])
	for b, row := range ids {
		if len(row) == 0 {
			return fmt.Errorf("input_ids[%d] is empty: need at least one token", b)
		}
		if len(row) != seq {
			return fmt.Errorf("input_ids[%d] has %d tokens but input_ids[0] has %d: rows must have equal length", b, len(row), seq)
		}
		for t, id := range row {
			if id < 0 || id >= vocab {
				return fmt.Errorf("input_ids[%d][%d] = %d is outside the vocabulary [0, %d)", b, t, id, vocab)
			}
		}
	}
	if maxLen > 0 && seq > maxLen {
		return fmt.Errorf("input_ids rows have %d tokens, more than the model's %d positions", seq, maxLen)
	}
	return nil
}

// Flatten returns ids laid out row after row.
func Flatten(ids [][]int) []int {
	var out []int
	for _, row := range ids {
		out = append(out, row...)
	}
	return out
}

// CountParams sums the element counts of distinct parameters.
func CountParams(ps []*nn.Param) int {
	n := 0
	for _, p := range ps {
		n += p.W.Len()
	}
	return n
}

// Parts is what every architecture keeps about itself: its description,
// its named linear layers and its distinct weights. Embedding it in a model
// provides Info, Linears and Params.
type Parts struct {
	Description Info
	Slots       []*LinearSlot
	Weights     []*nn.Param
}

// Info describes the model.
func (p *Parts) Info() Info { return p.Description }

// Linears lists the linear layers in checkpoint order, the output head last.
func (p *Parts) Linears() []*LinearSlot { return p.Slots }

// Params lists every distinct weight; tied weights appear once.
func (p *Parts) Params() []*nn.Param { return p.Weights }

// AddLinear builds the linear layer name (out × in, Hugging Face layout)
// from the checkpoint tensors name.weight and, with bias, name.bias, and
// adds its weights to p.Weights and its slot to p.Slots.
func (p *Parts) AddLinear(w *Weights, name string, out, in int, bias bool) (*LinearSlot, error) {
	wt, err := w.Get(name+".weight", out, in)
	if err != nil {
		return nil, err
	}
	var b *tensor.Tensor
	if bias {
		if b, err = w.Get(name+".bias", out); err != nil {
			return nil, err
		}
	}
	l, err := nn.NewLinear(name, wt, b, false)
	if err != nil {
		return nil, err
	}
	p.Weights = append(p.Weights, l.Weight)
	if l.Bias != nil {
		p.Weights = append(p.Weights, l.Bias)
	}
	s := NewSlot(l)
	p.Slots = append(p.Slots, s)
	return s, nil
}

// AddHead builds the output head (vocab × hidden) and adds its slot, last,
// to p.Slots: with tied set, a layer reading the embedding table tied (a
// checkpoint's lm_head.weight, which some exports write as well, is
// skipped); otherwise the checkpoint's lm_head (AddLinear). The slot is
// marked Head, and its output fresh (the logits, which callers keep).
func (p *Parts) AddHead(w *Weights, tied *nn.Param, vocab, hidden int) (*LinearSlot, error) {
	var head *LinearSlot
	if tied != nil {
		w.Skip("lm_head.weight")
		head = NewSlot(&nn.Linear{Name: "lm_head", In: hidden, Out: vocab, Weight: tied})
		p.Slots = append(p.Slots, head)
	} else {
		var err error
		if head, err = p.AddLinear(w, "lm_head", vocab, hidden, false); err != nil {
			return nil, err
		}
	}
	head.Head = true
	head.Base.FreshOutput = true
	return head, nil
}

// Cache holds what a Decoder keeps between steps: the keys and values of
// every position already run, for each batch row. Make one with
// Decoder.NewCache; it belongs to the model that made it.
type Cache interface {
	// Len returns the number of positions held (the same for every row).
	Len() int
	// MaxLen returns the most positions the cache may hold.
	MaxLen() int
	// Batch returns the number of rows the cache was made for.
	Batch() int
	// Reset empties the cache for a new sequence, keeping its storage.
	Reset()
}

// Decoder runs a causal LM incrementally: each Step feeds only the new
// tokens and reads the earlier positions from a cache, so generating token
// t costs attention over t positions instead of a full forward. All linear
// layers run through their slot's Layer, so an adapter installed on the
// model (peft) is used.
//
// Step shares the layers' saved activations with Forward: it invalidates a
// pending Backward, so do not call it between a training Forward and its
// Backward.
type Decoder interface {
	// Info describes the architecture (MaxPositions bounds generation).
	Info() Info
	// NewCache returns an empty cache for batch rows of up to maxLen
	// positions. Memory grows with the positions actually held.
	NewCache(batch, maxLen int) Cache
	// Step runs ids [batch][n] (n ≥ 1 new tokens per row at positions
	// cache.Len() … cache.Len()+n−1), appends their keys and values to the
	// cache and returns logits [batch, n, vocab]. It fails, leaving the
	// cache as it was, on ids outside the vocabulary, rows of unequal
	// length, a batch other than the cache's, a full cache (ErrCacheFull)
	// or a cache made by another model.
	Step(ids [][]int, cache Cache) (*tensor.Tensor, error)
}

// ErrCacheFull reports a Step whose tokens do not fit in its cache.
var ErrCacheFull = errors.New("cache is full")

// CheckStep validates a Decoder.Step call for a model with the given
// vocabulary, layers and key/value width (KVHeads·HeadDim), and returns
// the cache as the *nn.KVCache it must be. Messages name the offending
// entry as input_ids[row][col].
func CheckStep(ids [][]int, vocab int, c Cache, layers, width int) (*nn.KVCache, error) {
	if err := CheckIDs(ids, vocab, 0); err != nil {
		return nil, err
	}
	kv, ok := c.(*nn.KVCache)
	if !ok || kv == nil {
		return nil, fmt.Errorf("cache of type %T was not made by this model's NewCache", c)
	}
	if kv.Layers() != layers || kv.Width() != width {
		return nil, fmt.Errorf("cache has %d layers of width %d, this model has %d of width %d: it was made by another model", kv.Layers(), kv.Width(), layers, width)
	}
	if len(ids) != kv.Batch() {
		return nil, fmt.Errorf("input_ids has %d rows but the cache was made for %d", len(ids), kv.Batch())
	}
	if n := len(ids[0]); kv.Len()+n > kv.MaxLen() {
		return nil, fmt.Errorf("%d new tokens after %d cached positions exceed the cache's %d: %w", n, kv.Len(), kv.MaxLen(), ErrCacheFull)
	}
	return kv, nil
}
