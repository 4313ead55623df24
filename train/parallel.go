package train

import (
	"fmt"
	"runtime"

	"github.com/orthotune/orthotune/data"
	"github.com/orthotune/orthotune/kernels"
	"github.com/orthotune/orthotune/model"
	"github.com/orthotune/orthotune/nn"
)

// Parallel runs data-parallel training steps: replicas of a model (see
// model.Replicator), one per core, each take a share of every batch's rows
// and run their forward and backward passes concurrently, every kernel
// single-threaded while all run (kernels.Concurrently; a replica that
// finishes first lends its core to the kernels of those still running);
// their gradients are then added into the model's, in replica order, and
// the optimizer steps once.
//
// On a few cores and a small model this beats splitting each operation
// across the cores, which meets the cores at hundreds of hand-offs a step
// and runs each product on a share of the rows (BENCHMARKS.md has the
// figures). The result is the same computation up to the order of
// floating-point sums, and for a given number of replicas it is
// deterministic.
//
// A goroutine in a foreign call (a system BLAS) holds its P, and when no P
// is idle the runtime hands that P to another thread after 20 µs, so the
// goroutine coming back must wait for one. So while a Parallel of n > 1
// replicas is open, GOMAXPROCS is at least 2n (extra Ps
// cost nothing while their goroutines wait in foreign calls); Close puts
// it back. It is raised once, not per step: changing GOMAXPROCS empties
// every sync.Pool.
type Parallel struct {
	models     []model.CausalLM // models[0] is the model itself
	maps       []*nn.Replicas   // maps[i] maps the model's parameters to models[i]'s (i ≥ 1)
	savedProcs int              // GOMAXPROCS before NewParallel raised it; 0: not raised
}

// NewParallel returns n replicas of m for data-parallel steps (m itself
// being the first), or an error saying why m cannot be replicated: a model
// that does not implement model.Replicator, or layers that refuse (merged
// adapters). n < 1 means kernels.Threads(). Adapter dropout draws each
// replica's masks from a generator that the adapter layer's own seeds at
// every step: the same masks for the same number of replicas (and after a
// resume), different ones from a run with another number of replicas.
func NewParallel(m model.CausalLM, n int) (*Parallel, error) {
	if n < 1 {
		n = kernels.Threads()
	}
	p := &Parallel{models: []model.CausalLM{m}, maps: []*nn.Replicas{nil}}
	if n == 1 {
		return p, nil
	}
	rep, ok := m.(model.Replicator)
	if !ok {
		return nil, fmt.Errorf("train: %T cannot make replicas of itself", m)
	}
	for range n - 1 {
		r := nn.NewReplicas()
		replica, err := rep.Replica(r)
		if err != nil {
			return nil, fmt.Errorf("train: replicating the model: %w", err)
		}
		p.models = append(p.models, replica)
		p.maps = append(p.maps, r)
	}
	if prev := runtime.GOMAXPROCS(0); prev < 2*n {
		runtime.GOMAXPROCS(2 * n)
		p.savedProcs = prev
	}
	return p, nil
}

// DefaultReplicas resolves a requested number of replicas: 0 means one
// per thread (NewParallel's default), except with gradient checkpointing,
// which is for memory and keeps one (replicas recompute their blocks side
// by side); any other request stands.
func DefaultReplicas(requested int, gradientCheckpointing bool) int {
	if requested == 0 && gradientCheckpointing {
		return 1
	}
	return requested
}

// Close releases the replicas and puts GOMAXPROCS back as NewParallel
// found it (unless something has changed it since). The Parallel must not
// be used after.
func (p *Parallel) Close() {
	if p.savedProcs != 0 && runtime.GOMAXPROCS(0) == 2*len(p.models) {
		runtime.GOMAXPROCS(p.savedProcs)
	}
	if len(p.models) > 1 {
		for _, s := range p.models[0].Linears() {
			if o, ok := s.Layer.(model.ReplicaOwner); ok {
				o.DropReplicas()
			}
		}
	}
	p.savedProcs = 0
	p.models, p.maps = p.models[:1], p.maps[:1]
}

// Replicas reports how many replicas run each step.
func (p *Parallel) Replicas() int { return len(p.models) }

// Step is the data-parallel version of Step (see there), built from its
// pieces: each batch's rows are split evenly among the replicas in order
// (replica i runs rows [i·rows/n, (i+1)·rows/n) of every batch), the
// replicas run forward and backward concurrently, their gradients are
// added into the model's in replica order, and the update is Step's. The
// loss and every gradient are weighted by target tokens as in Step, so
// they do not depend on the split beyond rounding.
func (p *Parallel) Step(opt *AdamW, batches []data.Batch, lr, maxGradNorm float64) (StepResult, error) {
	n := len(p.models)
	shares, res, err := splitRows(batches, n)
	if err != nil {
		return res, err
	}
	for _, np := range opt.params {
		for i := range n {
			p.param(i, np.Param).ZeroGrad()
		}
	}
	var sharers []model.StepSharer
	if n > 1 {
		for _, s := range p.models[0].Linears() {
			if sh, ok := s.Layer.(model.StepSharer); ok {
				sharers = append(sharers, sh)
			}
		}
		shareStep(sharers, n, true)
	}
	kernels.Concurrently(n, func(i int) {
		sh := &shares[i]
		sh.lossSum, sh.err = forwardBackward(p.models[i], sh.batches, sh.targets, res.Targets)
	})
	shareStep(sharers, n, false)
	var lossSum float64
	for i := range shares {
		if shares[i].err != nil {
			return res, shares[i].err
		}
		lossSum += shares[i].lossSum
	}
	for _, np := range opt.params {
		for i := 1; i < n; i++ {
			if g := p.param(i, np.Param); g != np.Param {
				np.Param.Grad.AddInPlace(g.Grad)
			}
		}
	}
	return res, update(opt, &res, lossSum, lr, maxGradNorm)
}

// shareStep calls ShareStep(on) on every sharer, the layers split among n
// goroutines: each layer's shared work (OFT's rotations before the step,
// their Cayley backward after it) is its own, and the same on any
// goroutine.
func shareStep(sharers []model.StepSharer, n int, on bool) {
	kernels.Concurrently(n, func(i int) {
		for s := i; s < len(sharers); s += n {
			sharers[s].ShareStep(on)
		}
	})
}

// param returns replica i's parameter for the model's p.
func (p *Parallel) param(i int, param *nn.Param) *nn.Param {
	if i == 0 {
		return param
	}
	return p.maps[i].Of(param)
}
