package model

import (
	"fmt"

	"github.com/orthotune/orthotune/tensor"
)

// Checkpointer is implemented by models that support gradient
// checkpointing: with it on, a training forward keeps only each decoder
// block's input, releasing the block's activations (nn.Releaser) as soon as
// its output is computed, and Backward recomputes a block's forward from
// its input just before differentiating it. Peak activation memory drops
// from every block's to one block's plus the block inputs, for about one
// extra forward pass of compute. Gradients are the same as without it:
// the recomputation repeats the forward exactly, random dropout masks
// included.
type Checkpointer interface {
	SetGradientCheckpointing(on bool) error
}

// SetGradientCheckpointing turns gradient checkpointing on or off for m,
// or reports that m does not support it.
func SetGradientCheckpointing(m CausalLM, on bool) error {
	c, ok := m.(Checkpointer)
	if !ok {
		return fmt.Errorf("model: %s does not support gradient checkpointing", m.Info().ModelType)
	}
	return c.SetGradientCheckpointing(on)
}

// stochastic is what an adapter layer with dropout offers: its generator
// (peft.Layer.RNG, seen from below).
type stochastic interface {
	RNG() *tensor.RNG
}

// BlockCheckpoint is what gradient checkpointing keeps of one block: a copy
// of its input, and the state before its forward of the random generators
// of the layers in its slots, so that the recomputation draws the same
// dropout masks. The copy is the checkpoint's own, so the buffers the
// previous block released can be reused at once; it is kept from step to
// step.
type BlockCheckpoint struct {
	input   *tensor.Tensor
	pending bool // Restore has something to return
	rngs    [][]byte
}

// Copy copies input into the checkpoint's own buffer and returns that
// copy, without marking the block for recomputation: for a block that is
// not released (the last one, whose backward comes straight after).
func (c *BlockCheckpoint) Copy(input *tensor.Tensor) *tensor.Tensor {
	c.input = tensor.Reuse(c.input, input.Shape...)
	copy(c.input.Data, input.Data)
	c.pending = false
	return c.input
}

// Save copies the block's input (see Copy) and records its slots'
// generator states, and returns the copy for the block's forward to run
// on; call it just before that forward.
func (c *BlockCheckpoint) Save(input *tensor.Tensor, slots []*LinearSlot) *tensor.Tensor {
	in := c.Copy(input)
	c.pending, c.rngs = true, c.rngs[:0]
	for _, s := range slots {
		if r, ok := s.Layer.(stochastic); ok {
			b, err := r.RNG().MarshalBinary()
			if err != nil {
				panic(fmt.Sprintf("model: checkpoint of %s: %v", s.Name, err))
			}
			c.rngs = append(c.rngs, b)
		}
	}
	return in
}

// Restore puts the slots' generators back to their saved states and
// returns the saved input, or nil when nothing is saved; the checkpoint is
// empty afterwards. After recomputing the forward, the generators are
// where the original forward left them.
func (c *BlockCheckpoint) Restore(slots []*LinearSlot) *tensor.Tensor {
	if !c.pending {
		return nil
	}
	in := c.input
	i := 0
	for _, s := range slots {
		if r, ok := s.Layer.(stochastic); ok {
			if err := r.RNG().UnmarshalBinary(c.rngs[i]); err != nil {
				panic(fmt.Sprintf("model: checkpoint of %s: %v", s.Name, err))
			}
			i++
		}
	}
	c.pending = false
	return in
}

// StoreBaseBF16 holds the weights of m's frozen linear layers in bfloat16
// (nn.Linear.StoreBF16), leaving trainable weights, embeddings, norms and
// an output head tied to the embeddings in float32, and returns how many
// bytes that saves. Call it after choosing what trains (attaching an
// adapter). Merging and saving the model then fail with nn.ErrBF16.
func StoreBaseBF16(m CausalLM) (saved int64, err error) {
	for _, s := range m.Linears() {
		if s.Base.Weight.Trainable() || s.Base.BF16() || (s.Head && m.Info().TiedEmbeddings) {
			continue
		}
		n := s.Base.Weight.W.Len()
		if err := s.Base.StoreBF16(); err != nil {
			return saved, err
		}
		saved += 2 * int64(n)
	}
	return saved, nil
}

// Block is one decoder block of a stack that ForwardBlocks and
// BackwardBlocks run: its forward and backward (with whatever shapes and
// tables the model set up for this pass), its linear slots, its
// checkpoint and the release of its activations.
type Block interface {
	Forward(x *tensor.Tensor) *tensor.Tensor
	// Backward returns dL/dx, from tensor.Get; dy stays the caller's.
	Backward(dy *tensor.Tensor) *tensor.Tensor
	Slots() []*LinearSlot
	Checkpoint() *BlockCheckpoint
	Release()
}

// ForwardBlocks runs h through the blocks in order and returns the last
// one's output. With checkpointing, each block runs on its checkpoint's
// copy of its input, so the previous block can be released (its buffers
// going back to tensor's pool for this one) before it runs; the last block
// is kept, as its backward comes first and needs no recomputation.
func ForwardBlocks[B Block](blocks []B, h *tensor.Tensor, checkpoint bool) *tensor.Tensor {
	for i, b := range blocks {
		if !checkpoint {
			h = b.Forward(h)
			continue
		}
		var in *tensor.Tensor
		if i == len(blocks)-1 {
			in = b.Checkpoint().Copy(h)
		} else {
			in = b.Checkpoint().Save(h, b.Slots())
		}
		if i > 0 {
			blocks[i-1].Release()
		}
		h = b.Forward(in)
	}
	return h
}

// BackwardBlocks runs the blocks' backward passes in reverse order from
// dL/d(output) dh, which it gives back to tensor's pool as it goes, and
// returns dL/d(input). A released block is recomputed from its checkpoint
// first; with checkpointing every block is released after its backward.
func BackwardBlocks[B Block](blocks []B, dh *tensor.Tensor, checkpoint bool) *tensor.Tensor {
	for i := len(blocks) - 1; i >= 0; i-- {
		b := blocks[i]
		if in := b.Checkpoint().Restore(b.Slots()); in != nil {
			b.Forward(in) // recompute what Release dropped
		}
		next := b.Backward(dh)
		tensor.Put(dh)
		dh = next
		if checkpoint {
			b.Release()
		}
	}
	return dh
}
