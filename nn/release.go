package nn

import "github.com/orthotune/orthotune/tensor"

// Release methods of the nn layers (see Releaser). Buffers a layer reuses
// between steps go back to tensor's pool, where the next block's layers
// find them: under gradient checkpointing one block's worth of activation
// memory circulates through all the blocks.

// Release drops the input kept for the weight gradient and gives back the
// output buffer.
func (l *Linear) Release() {
	if !l.FreshOutput {
		tensor.Put(l.y)
	}
	l.x, l.y = nil, nil
}

// Release drops the input and per-row statistics and gives back the output.
func (n *RMSNorm) Release() {
	tensor.Put(n.y)
	n.x, n.invRMS, n.y = nil, nil, nil
}

// Release gives back the normalised input and the output.
func (n *LayerNorm) Release() {
	tensor.Put(n.xhat, n.y)
	n.xhat, n.invStd, n.y = nil, nil, nil
}

// Release drops gate, up and σ(gate) and gives back the output.
func (s *SwiGLU) Release() {
	tensor.Put(s.h, s.sig)
	s.gate, s.up, s.sig, s.h = nil, nil, nil, nil
}

// Release drops the input and gives back the output.
func (a *GELU) Release() {
	tensor.Put(a.y)
	a.x, a.y = nil, nil
}

// Release drops the views of q, k, v and the per-row log-sum-exps.
func (a *Attention) Release() { a.q, a.k, a.v, a.lse = Strided{}, Strided{}, Strided{}, nil }
