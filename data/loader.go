package data

import "fmt"

// Batch is a group of rows padded on the right to the same length.
type Batch struct {
	// InputIDs holds the rows, padded with the loader's pad id.
	InputIDs [][]int
	// Labels is aligned with InputIDs; padding is IgnoreIndex.
	Labels [][]int
	// Tokens is the number of tokens that are not padding.
	Tokens int
	// LossTokens is the number of next-token targets that carry loss: the
	// entries of Targets() other than IgnoreIndex.
	LossTokens int
}

// Targets returns the next-token targets, flattened [batch*seq] row by
// row: targets[b*seq+t] = Labels[b][t+1], and IgnoreIndex at each row's last
// position, where seq is the length of the longest row of InputIDs.
func (b Batch) Targets() []int {
	seq := 0
	for _, row := range b.InputIDs {
		seq = max(seq, len(row))
	}
	out := make([]int, len(b.InputIDs)*seq)
	for r := range b.InputIDs {
		var labels []int
		if r < len(b.Labels) {
			labels = b.Labels[r]
		}
		row := out[r*seq : (r+1)*seq]
		for t := range row {
			if t+1 < len(labels) {
				row[t] = labels[t+1]
			} else {
				row[t] = IgnoreIndex
			}
		}
	}
	return out
}

// Position is where a Loader is: the next batch Next returns is batch Step
// (from 0) of epoch Epoch (from 0). It is what a checkpoint saves.
type Position struct {
	Epoch int `json:"epoch"`
	Step  int `json:"step"`
}

// Loader yields batches of examples, epoch after epoch. Without shuffling
// each epoch takes the examples in order; with it, epoch e takes them in a
// permutation drawn from a SplitMix64 stream derived from (seed, e) alone,
// so any epoch's order can be recomputed without replaying the ones before
// it. The last batch of an epoch holds the remainder when the batch size
// does not divide the number of examples. A Loader is not safe for
// concurrent use.
type Loader struct {
	examples  []Example
	batchSize int
	shuffle   bool
	seed      uint64
	padID     int

	pos   Position
	order []int // the current epoch's order
}

// NewLoader returns a loader at Position{0, 0}. Rows are padded on the
// right with padID (labels with IgnoreIndex) to the longest row of their
// batch. A batchSize below 1 counts as 1. The loader keeps the examples'
// token slices and never modifies them; batches are copies.
func NewLoader(examples []Example, batchSize int, shuffle bool, seed uint64, padID int) *Loader {
	l := &Loader{
		examples:  append([]Example(nil), examples...),
		batchSize: max(batchSize, 1),
		shuffle:   shuffle,
		seed:      seed,
		padID:     padID,
	}
	l.startEpoch(0)
	return l
}

// StepsPerEpoch returns the number of batches in an epoch,
// ceil(examples / batch size).
func (l *Loader) StepsPerEpoch() int {
	return (len(l.examples) + l.batchSize - 1) / l.batchSize
}

// Position returns where the loader is: the position of the batch the next
// call to Next returns.
func (l *Loader) Position() Position { return l.pos }

// Seek moves the loader to p, after which Next returns exactly what an
// uninterrupted loader built with the same arguments returns from p on. It
// fails, leaving the loader where it was, when p.Epoch < 0 or p.Step is not
// in [0, StepsPerEpoch()) (for a loader with no examples, only step 0).
func (l *Loader) Seek(p Position) error {
	steps := l.StepsPerEpoch()
	if p.Epoch < 0 || p.Step < 0 || (p.Step >= steps && p.Step != 0) {
		return fmt.Errorf("data: cannot seek to epoch %d step %d: the loader has %d steps per epoch", p.Epoch, p.Step, steps)
	}
	l.startEpoch(p.Epoch)
	l.pos.Step = p.Step
	return nil
}

func (l *Loader) startEpoch(e int) {
	l.pos = Position{Epoch: e}
	if l.shuffle {
		l.order = permutation(len(l.examples), derive(l.seed, streamEpoch, uint64(e)))
		return
	}
	if len(l.order) != len(l.examples) {
		l.order = make([]int, len(l.examples))
	}
	for i := range l.order {
		l.order[i] = i
	}
}

// Next returns the next batch and advances; after an epoch's last batch it
// moves to the next epoch. With no examples it returns an empty Batch.
func (l *Loader) Next() Batch {
	n := len(l.examples)
	if n == 0 {
		return Batch{}
	}
	start := l.pos.Step * l.batchSize
	end := min(start+l.batchSize, n)
	b := l.batch(l.order[start:end])
	if l.pos.Step+1 >= l.StepsPerEpoch() {
		l.startEpoch(l.pos.Epoch + 1)
	} else {
		l.pos.Step++
	}
	return b
}

// batch builds the padded batch of the examples at indices.
func (l *Loader) batch(indices []int) Batch {
	seq := 0
	for _, i := range indices {
		seq = max(seq, len(l.examples[i].InputIDs))
	}
	b := Batch{
		InputIDs: make([][]int, len(indices)),
		Labels:   make([][]int, len(indices)),
	}
	ids := make([]int, len(indices)*seq)
	labels := make([]int, len(indices)*seq)
	for r, i := range indices {
		ex := l.examples[i]
		rowIDs := ids[r*seq : (r+1)*seq : (r+1)*seq]
		rowLabels := labels[r*seq : (r+1)*seq : (r+1)*seq]
		n := copy(rowIDs, ex.InputIDs)
		for t := range rowIDs {
			switch {
			case t >= n:
				rowIDs[t] = l.padID
				rowLabels[t] = IgnoreIndex
			case t < len(ex.Labels):
				rowLabels[t] = ex.Labels[t]
			default:
				rowLabels[t] = IgnoreIndex
			}
		}
		b.InputIDs[r], b.Labels[r] = rowIDs, rowLabels
		b.Tokens += n
		b.LossTokens += lossTokens(rowLabels)
	}
	return b
}
