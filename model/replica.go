package model

import (
	"fmt"

	"github.com/orthotune/orthotune/nn"
)

// Replicator is implemented by models that can make replicas of
// themselves for data-parallel training (see nn.Replicas): a replica shares
// every weight with the model, adapters' included, and keeps its own
// activations and gradient buffers. r maps the model's trainable
// parameters to the replica's.
type Replicator interface {
	Replica(r *nn.Replicas) (CausalLM, error)
}

// LayerReplicator is implemented by layers installed in a LinearSlot over
// its base layer (adapters): ReplicaOn returns a replica of the layer
// wrapping base, the replica of the base layer, or an error saying why the
// layer cannot be replicated as it is.
type LayerReplicator interface {
	ReplicaOn(base *nn.Linear, r *nn.Replicas) (nn.Layer, error)
}

// StepSharer is implemented by layers (adapters) whose replicas can share
// work that depends on the parameters alone, computed once per
// data-parallel step: ShareStep(true) before the replicas run, on the
// layer they were made from, ShareStep(false) after, before the
// parameters change. OFT computes its rotations that way, and after the
// step takes the replicas' gradients through the rotations' backward
// once. The trainer may call ShareStep on different layers concurrently
// (it splits the layers among the replicas' goroutines), so it must touch
// only the state of the layer and of its own replicas.
type StepSharer interface {
	ShareStep(on bool)
}

// ReplicaOwner is implemented by layers that keep the replicas made from
// them (to seed their dropout generators each step): DropReplicas forgets
// them once they are done with, so that they can be collected.
type ReplicaOwner interface {
	DropReplicas()
}

// Replica returns a replica of the slot: its base layer's and, when an
// adapter wraps it, the adapter's over that.
func (s *LinearSlot) Replica(r *nn.Replicas) (*LinearSlot, error) {
	base := s.Base.Replica(r)
	out := &LinearSlot{Name: s.Name, Base: base, Layer: base, Head: s.Head}
	switch l := s.Layer.(type) {
	case *nn.Linear:
		if l != s.Base {
			return nil, fmt.Errorf("model: %s: the slot runs a linear layer other than its base", s.Name)
		}
	case LayerReplicator:
		layer, err := l.ReplicaOn(base, r)
		if err != nil {
			return nil, fmt.Errorf("model: %s: %w", s.Name, err)
		}
		out.Layer = layer
	default:
		return nil, fmt.Errorf("model: %s: %T cannot be replicated", s.Name, s.Layer)
	}
	return out, nil
}

// ReplicateParts replicates p's slots, in order, and its weights list, and
// returns the replica's Parts with a map from each slot to its replica,
// from which a model's Replica builds its layers.
func (p *Parts) ReplicateParts(r *nn.Replicas) (Parts, map[*LinearSlot]*LinearSlot, error) {
	out := Parts{Description: p.Description, Slots: make([]*LinearSlot, len(p.Slots)), Weights: make([]*nn.Param, len(p.Weights))}
	slotOf := make(map[*LinearSlot]*LinearSlot, len(p.Slots))
	for i, s := range p.Slots {
		rs, err := s.Replica(r)
		if err != nil {
			return Parts{}, nil, err
		}
		out.Slots[i], slotOf[s] = rs, rs
	}
	for i, w := range p.Weights {
		out.Weights[i] = r.Param(w)
	}
	return out, slotOf, nil
}
