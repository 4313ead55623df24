package nn

// Replicas makes replicas of layers for data-parallel training: a replica
// computes like its original and shares its weights, frozen and trainable
// alike (the optimizer updates them in place for all), but keeps its own
// activations and its own gradient buffers, so that replicas can run
// forward and backward passes concurrently on different rows of a batch.
// The replicas' gradients are then added into the originals'.
//
// One Replicas maps the parameters of one replica of a whole model, so that
// a parameter shared by several layers (tied embeddings) stays shared in
// the replica.
type Replicas struct {
	params map[*Param]*Param
}

// NewReplicas returns an empty parameter map for one replica.
func NewReplicas() *Replicas { return &Replicas{params: map[*Param]*Param{}} }

// Param returns the replica's parameter for p: p itself when it is frozen
// (nothing is written to it), otherwise a parameter sharing p's weights
// with a gradient buffer of its own, the same one on every call. nil gives
// nil.
func (r *Replicas) Param(p *Param) *Param {
	if p == nil || !p.Trainable() {
		return p
	}
	if q, ok := r.params[p]; ok {
		return q
	}
	q := &Param{Name: p.Name, W: p.W}
	q.SetTrainable(true)
	r.params[p] = q
	return q
}

// Of returns the replica's parameter for p as Param made it, or p when
// Param has not been asked for it (or it was frozen).
func (r *Replicas) Of(p *Param) *Param {
	if q, ok := r.params[p]; ok {
		return q
	}
	return p
}

// Replica returns a replica of l (see Replicas).
func (l *Linear) Replica(r *Replicas) *Linear {
	return &Linear{Name: l.Name, In: l.In, Out: l.Out, Conv1D: l.Conv1D, Weight: r.Param(l.Weight),
		Bias: r.Param(l.Bias), FreshOutput: l.FreshOutput, bf16: l.bf16}
}

// Replica returns a replica of e (see Replicas).
func (e *Embedding) Replica(r *Replicas) *Embedding { return &Embedding{Weight: r.Param(e.Weight)} }

// Replica returns a replica of n (see Replicas).
func (n *RMSNorm) Replica(r *Replicas) *RMSNorm {
	return &RMSNorm{Weight: r.Param(n.Weight), Eps: n.Eps, Offset: n.Offset}
}

// Replica returns a replica of n (see Replicas).
func (n *LayerNorm) Replica(r *Replicas) *LayerNorm {
	return &LayerNorm{Weight: r.Param(n.Weight), Bias: r.Param(n.Bias), Eps: n.Eps}
}

// Replica returns an attention layer with a's configuration and none of
// its state.
func (a *Attention) Replica() *Attention {
	return &Attention{Heads: a.Heads, KVHeads: a.KVHeads, HeadDim: a.HeadDim, Scale: a.Scale, Window: a.Window}
}
