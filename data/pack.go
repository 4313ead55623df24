package data

import "math"

// Pack concatenates the examples, in order, into rows of exactly seqLen
// tokens, as Hugging Face's group_texts does: an example may span two rows,
// and the tokens left over at the end, too few to fill a row, are dropped
// (so fewer than seqLen tokens in all give no rows). Labels move with their
// tokens, IgnoreIndex included; missing labels (a Labels shorter than its
// InputIDs) become IgnoreIndex. Packed rows need no padding and no
// attention mask; each example sees the ones before it in its row, as in
// TRL's packing without position-id resets. seqLen < 1 gives no rows.
func Pack(examples []Example, seqLen int) []Example {
	if seqLen < 1 {
		return nil
	}
	total := 0
	for _, ex := range examples {
		total += len(ex.InputIDs)
	}
	rows := total / seqLen
	if rows == 0 {
		return nil
	}
	ids := make([]int, 0, rows*seqLen)
	labels := make([]int, 0, rows*seqLen)
	for _, ex := range examples {
		room := rows*seqLen - len(ids)
		if room == 0 {
			break
		}
		n := min(len(ex.InputIDs), room)
		ids = append(ids, ex.InputIDs[:n]...)
		for t := range n {
			if t < len(ex.Labels) {
				labels = append(labels, ex.Labels[t])
			} else {
				labels = append(labels, IgnoreIndex)
			}
		}
	}
	out := make([]Example, rows)
	for r := range out {
		a, b := r*seqLen, (r+1)*seqLen
		out[r] = Example{InputIDs: ids[a:b:b], Labels: labels[a:b:b]}
	}
	return out
}

// Split divides the examples into a training and a validation set at
// random, deterministically for a seed. The validation set gets
// round(valFraction·n) examples, at least 1 and at most n−1 when
// valFraction > 0 and n > 1 (so neither side is empty); none when
// valFraction ≤ 0 (or NaN) or n < 2. Both sets keep the examples' original
// relative order; together they hold every example exactly once. The
// returned Examples share their token slices with the input.
func Split(examples []Example, valFraction float64, seed uint64) (train, val []Example) {
	n := len(examples)
	if n < 2 || !(valFraction > 0) {
		return append([]Example(nil), examples...), nil
	}
	nVal := int(math.Round(math.Min(valFraction, 1) * float64(n)))
	nVal = max(1, min(nVal, n-1))
	isVal := make([]bool, n)
	for _, i := range permutation(n, derive(seed, streamSplit, 0))[:nVal] {
		isVal[i] = true
	}
	train = make([]Example, 0, n-nVal)
	val = make([]Example, 0, nVal)
	for i, ex := range examples {
		if isVal[i] {
			val = append(val, ex)
		} else {
			train = append(train, ex)
		}
	}
	return train, val
}
