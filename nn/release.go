package nn

// Release methods of the nn layers (see Releaser).

// Release drops the input kept for the weight gradient.
func (l *Linear) Release() { l.x, l.y = nil, nil }

// Release drops the input and per-row statistics.
func (n *RMSNorm) Release() { n.x, n.invRMS, n.y = nil, nil, nil }

// Release drops the normalised input and per-row statistics.
func (n *LayerNorm) Release() { n.xhat, n.invStd, n.y = nil, nil, nil }

// Release drops gate and up.
func (s *SwiGLU) Release() { s.gate, s.up, s.sig, s.h = nil, nil, nil, nil }

// Release drops the input.
func (a *GELU) Release() { a.x, a.y = nil, nil }

// Release drops the views of q, k, v and the per-row log-sum-exps.
func (a *Attention) Release() { a.q, a.k, a.v, a.lse = Strided{}, Strided{}, Strided{}, nil }
