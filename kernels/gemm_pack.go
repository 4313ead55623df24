package kernels

// Packing copies blocks of op(A) and op(B) into the layout the micro-kernel
// reads: slivers of mr rows of op(A) (nr columns of op(B)) interleaved step
// by step along k, so that it reads both with unit stride. All four
// transpose combinations are resolved here; the micro-kernel sees only this
// layout. Slivers at the ragged edge of a block are padded with zeros. The
// padding only ever meets accumulators that storeTile discards, but stale
// values there could be subnormal, and subnormal operands are very slow on
// x86.

// packA copies op(A)[i0:i0+mc, p0:p0+kc] into dst as ⌈mc/mr⌉ slivers of kc
// steps: dst[s·kc+p][r] = op(A)[i0+s·mr+r, p0+p].
func packA(dst [][mr]float32, trans bool, a []float32, lda, i0, mc, p0, kc int) {
	for s := 0; s*mr < mc; s++ {
		d := dst[s*kc:][:kc]
		i := i0 + s*mr
		h := min(mr, mc-s*mr)
		if trans { // A is k×m: op(A)[i, p] = a[p*lda+i], mr contiguous values per step
			if h == mr {
				for p := range d {
					d[p] = [mr]float32(a[(p0+p)*lda+i:])
				}
				continue
			}
			for p := range d {
				d[p] = [mr]float32{}
				copy(d[p][:h], a[(p0+p)*lda+i:][:h])
			}
			continue
		}
		// A is m×k: op(A)[i, p] = a[i*lda+p], one contiguous row per r.
		if h == mr {
			r0 := a[i*lda+p0:][:len(d)]
			r1 := a[(i+1)*lda+p0:][:len(d)]
			r2 := a[(i+2)*lda+p0:][:len(d)]
			r3 := a[(i+3)*lda+p0:][:len(d)]
			for p := range d {
				d[p] = [mr]float32{r0[p], r1[p], r2[p], r3[p]}
			}
			continue
		}
		for r := range mr {
			if r >= h {
				for p := range d {
					d[p][r] = 0
				}
				continue
			}
			for p, v := range a[(i+r)*lda+p0:][:kc] {
				d[p][r] = v
			}
		}
	}
}

// packB copies op(B)[p0:p0+kc, j0:j0+nc] into dst as ⌈nc/nr⌉ slivers of kc
// steps: dst[s·kc+p][q] = op(B)[p0+p, j0+s·nr+q].
func packB(dst [][nr]float32, trans bool, b []float32, ldb, p0, kc, j0, nc int) {
	for s := 0; s*nr < nc; s++ {
		d := dst[s*kc:][:kc]
		j := j0 + s*nr
		w := min(nr, nc-s*nr)
		if !trans { // B is k×n: op(B)[p, j] = b[p*ldb+j], nr contiguous values per step
			if w == nr {
				for p := range d {
					d[p] = [nr]float32(b[(p0+p)*ldb+j:])
				}
				continue
			}
			for p := range d {
				d[p] = [nr]float32{}
				copy(d[p][:w], b[(p0+p)*ldb+j:][:w])
			}
			continue
		}
		// B is n×k: op(B)[p, j] = b[j*ldb+p], one contiguous row per q.
		if w == nr {
			r0 := b[j*ldb+p0:][:len(d)]
			r1 := b[(j+1)*ldb+p0:][:len(d)]
			for p := range d {
				d[p] = [nr]float32{r0[p], r1[p]}
			}
			continue
		}
		for q := range nr {
			if q >= w {
				for p := range d {
					d[p][q] = 0
				}
				continue
			}
			for p, v := range b[(j+q)*ldb+p0:][:kc] {
				d[p][q] = v
			}
		}
	}
}
