package data

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
)

// tagged makes n examples whose first id is their index, of varied lengths.
func tagged(n int) []Example {
	out := make([]Example, n)
	for i := range out {
		l := 1 + i%4
		ex := Example{InputIDs: make([]int, l), Labels: make([]int, l)}
		for t := range l {
			ex.InputIDs[t] = i
			ex.Labels[t] = i
		}
		if l > 2 {
			ex.Labels[0] = IgnoreIndex
		}
		out[i] = ex
	}
	return out
}

// rowTags returns the first id of each row of b.
func rowTags(b Batch) []int {
	out := make([]int, len(b.InputIDs))
	for r, row := range b.InputIDs {
		out[r] = row[0]
	}
	return out
}

func TestStepsPerEpoch(t *testing.T) {
	tests := []struct{ n, batch, want int }{
		{10, 3, 4}, {9, 3, 3}, {1, 8, 1}, {0, 4, 0}, {5, 0, 5}, {5, -2, 5}, {8, 8, 1},
	}
	for _, tt := range tests {
		if got := NewLoader(tagged(tt.n), tt.batch, true, 1, 0).StepsPerEpoch(); got != tt.want {
			t.Errorf("n %d batch %d: %d steps, want %d", tt.n, tt.batch, got, tt.want)
		}
	}
}

// Each epoch visits every example once, in batches of the requested size
// with the remainder last, and wraps into the next epoch.
func TestLoaderEpochsCoverEachExampleOnce(t *testing.T) {
	for _, shuffle := range []bool{false, true} {
		l := NewLoader(tagged(10), 3, shuffle, 5, 0)
		var orders [][]int
		for epoch := range 4 {
			var order []int
			for step := range 4 {
				if p := l.Position(); p != (Position{epoch, step}) {
					t.Fatalf("position %+v, want epoch %d step %d", p, epoch, step)
				}
				b := l.Next()
				if want := []int{3, 3, 3, 1}[step]; len(b.InputIDs) != want {
					t.Fatalf("step %d: %d rows, want %d", step, len(b.InputIDs), want)
				}
				order = append(order, rowTags(b)...)
			}
			if !slices.Equal(slices.Sorted(slices.Values(order)), []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
				t.Fatalf("shuffle %v epoch %d: order %v is not a permutation", shuffle, epoch, order)
			}
			orders = append(orders, order)
		}
		if !shuffle {
			for e, o := range orders {
				if !slices.IsSorted(o) {
					t.Errorf("unshuffled epoch %d in order %v", e, o)
				}
			}
			continue
		}
		if slices.Equal(orders[0], orders[1]) && slices.Equal(orders[1], orders[2]) {
			t.Error("every epoch has the same order")
		}
	}
}

func TestLoaderSeeds(t *testing.T) {
	order := func(seed uint64, epochs int) [][]int {
		l := NewLoader(tagged(50), 50, true, seed, 0)
		var out [][]int
		for range epochs {
			out = append(out, rowTags(l.Next()))
		}
		return out
	}
	a, b, c := order(1, 3), order(1, 3), order(2, 3)
	for e := range a {
		if !slices.Equal(a[e], b[e]) {
			t.Errorf("epoch %d: same seed, different order", e)
		}
		if slices.Equal(a[e], c[e]) {
			t.Errorf("epoch %d: seeds 1 and 2 give the same order", e)
		}
	}
	// Seed s's second epoch is not seed s+1's first.
	if slices.Equal(a[1], c[0]) {
		t.Error("epoch streams overlap across seeds")
	}
	// Against the independent reference (testdata/rng_reference.py).
	if want := []int{8, 3, 9, 6, 1, 5, 7, 4, 2, 0}; !slices.Equal(rowTags(NewLoader(tagged(10), 10, true, 42, 0).Next()), want) {
		t.Errorf("seed 42 epoch 0 order differs from the reference %v", want)
	}
}

// Rows are padded on the right to the batch's longest row; counts are of
// real tokens and of loss-carrying targets.
func TestLoaderPadding(t *testing.T) {
	exs := []Example{
		{InputIDs: []int{5, 6, 7}, Labels: []int{IgnoreIndex, 6, 7}},
		{InputIDs: []int{8}, Labels: []int{8}},
		{InputIDs: []int{9, 10}, Labels: nil}, // hand-built, no labels
	}
	l := NewLoader(exs, 3, false, 0, 99)
	b := l.Next()
	wantIDs := [][]int{{5, 6, 7}, {8, 99, 99}, {9, 10, 99}}
	wantLabels := [][]int{{-100, 6, 7}, {8, -100, -100}, {-100, -100, -100}}
	for r := range wantIDs {
		if !slices.Equal(b.InputIDs[r], wantIDs[r]) || !slices.Equal(b.Labels[r], wantLabels[r]) {
			t.Errorf("row %d: %v / %v, want %v / %v", r, b.InputIDs[r], b.Labels[r], wantIDs[r], wantLabels[r])
		}
	}
	if b.Tokens != 6 {
		t.Errorf("Tokens %d, want 6", b.Tokens)
	}
	if b.LossTokens != 2 { // 6 and 7 in row 0; row 1's only label is at position 0
		t.Errorf("LossTokens %d, want 2", b.LossTokens)
	}
	wantTargets := []int{6, 7, -100, -100, -100, -100, -100, -100, -100}
	if got := b.Targets(); !slices.Equal(got, wantTargets) {
		t.Errorf("targets %v, want %v", got, wantTargets)
	}
	// Batches are copies.
	b.InputIDs[0][0] = -1
	if exs[0].InputIDs[0] != 5 {
		t.Error("a batch aliases the examples")
	}
}

func TestTargets(t *testing.T) {
	tests := []struct {
		name string
		b    Batch
		want []int
	}{
		{"shift", Batch{InputIDs: [][]int{{1, 2, 3}, {4, 5, 6}}, Labels: [][]int{{1, 2, 3}, {-100, 5, 6}}},
			[]int{2, 3, -100, 5, 6, -100}},
		{"one token", Batch{InputIDs: [][]int{{1}}, Labels: [][]int{{1}}}, []int{-100}},
		{"empty", Batch{}, []int{}},
		{"ragged, missing labels", Batch{InputIDs: [][]int{{1, 2}, {3, 4, 5}}, Labels: [][]int{{1, 2}}},
			[]int{2, -100, -100, -100, -100, -100}},
	}
	for _, tt := range tests {
		if got := tt.b.Targets(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Stopping anywhere and resuming from the saved Position (through JSON)
// gives exactly the batches an uninterrupted loader gives.
func TestLoaderSeekReproducesTail(t *testing.T) {
	exs := randomExamples(rand.New(rand.NewPCG(3, 4)), 11, 6)
	for _, shuffle := range []bool{true, false} {
		ref := NewLoader(exs, 4, shuffle, 77, 0)
		const total = 3*3 + 2 // three epochs of 3 steps, and then some
		var positions []Position
		var batches []Batch
		for range total {
			positions = append(positions, ref.Position())
			batches = append(batches, ref.Next())
		}
		for k, p := range positions {
			saved, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var restored Position
			if err := json.Unmarshal(saved, &restored); err != nil {
				t.Fatal(err)
			}
			l := NewLoader(exs, 4, shuffle, 77, 0)
			l.Next() // move it somewhere else first
			if err := l.Seek(restored); err != nil {
				t.Fatalf("seek %+v: %v", restored, err)
			}
			for i := k; i < total; i++ {
				if got := l.Position(); got != positions[i] {
					t.Fatalf("from %+v: position %+v, want %+v", p, got, positions[i])
				}
				if got := l.Next(); !batchEqual(got, batches[i]) {
					t.Fatalf("shuffle %v, resumed at %+v: batch %d differs", shuffle, p, i)
				}
			}
		}
	}
}

func batchEqual(a, b Batch) bool {
	if a.Tokens != b.Tokens || a.LossTokens != b.LossTokens || len(a.InputIDs) != len(b.InputIDs) {
		return false
	}
	for r := range a.InputIDs {
		if !slices.Equal(a.InputIDs[r], b.InputIDs[r]) || !slices.Equal(a.Labels[r], b.Labels[r]) {
			return false
		}
	}
	return true
}

func TestLoaderSeekErrors(t *testing.T) {
	l := NewLoader(tagged(10), 3, true, 1, 0)
	l.Next()
	for _, p := range []Position{{-1, 0}, {0, -1}, {0, 4}, {2, 100}} {
		if err := l.Seek(p); err == nil {
			t.Errorf("Seek(%+v) succeeded", p)
		}
		if got := l.Position(); got != (Position{0, 1}) {
			t.Errorf("failed Seek(%+v) moved the loader to %+v", p, got)
		}
	}
	if err := l.Seek(Position{1000, 3}); err != nil {
		t.Errorf("Seek far ahead: %v", err)
	}
}

func TestLoaderEmpty(t *testing.T) {
	l := NewLoader(nil, 4, true, 1, 0)
	if b := l.Next(); len(b.InputIDs) != 0 || b.Tokens != 0 {
		t.Errorf("empty loader gave %+v", b)
	}
	if err := l.Seek(Position{3, 0}); err != nil {
		t.Errorf("Seek(3, 0): %v", err)
	}
	if err := l.Seek(Position{0, 1}); err == nil {
		t.Error("Seek(0, 1) succeeded on an empty loader")
	}
}

func TestLoaderBatchCounts(t *testing.T) {
	exs := randomExamples(rand.New(rand.NewPCG(5, 6)), 23, 9)
	l := NewLoader(exs, 5, true, 9, 0)
	tokens, loss := 0, 0
	for range l.StepsPerEpoch() {
		b := l.Next()
		tokens += b.Tokens
		n := 0
		for _, v := range b.Targets() {
			if v != IgnoreIndex {
				n++
			}
		}
		loss += n
		if n != b.LossTokens {
			t.Errorf("LossTokens %d, but %d targets carry loss", b.LossTokens, n)
		}
	}
	wantTokens, wantLoss := 0, 0
	for _, ex := range exs {
		wantTokens += len(ex.InputIDs)
		for t := 1; t < len(ex.Labels); t++ {
			if ex.Labels[t] != IgnoreIndex {
				wantLoss++
			}
		}
	}
	if tokens != wantTokens || loss != wantLoss {
		t.Errorf("an epoch has %d tokens / %d loss targets, want %d / %d", tokens, loss, wantTokens, wantLoss)
	}
}
