//go:build goexperiment.simd && amd64

package kernels

import (
	"simd/archsimd"
	"unsafe"
)

// Packing for the SIMD backend. As in gemm_pack.go, all four transpose
// combinations are resolved here and slivers at the ragged edges are padded
// with zeros (stale values could be subnormal, which x86 computes slowly);
// the micro-kernels see only these layouts:
//
//   - a panel of op(B) is ⌈nc/nr⌉ slivers of kc steps of nr values:
//     dst[(s·kc+p)·nr+q] = op(B)[p0+p, j0+s·nr+q];
//   - a sliver of op(A) is either mr rows of kc values, simdARowStride
//     apart (packARows): dst[r·simdARowStride+p] = op(A)[i0+r, p0+p]; or
//     kc steps of mr values, each plain (packASIMD) or broadcast to a
//     whole 16-lane vector (expandA): dst[((p·mr+r)·lanes)+l].
//
// Only the copying into the layout uses vectors here; the 256-bit ones are
// common to both instruction sets.

// packBSIMD copies op(B)[p0:p0+kc, j0:j0+nc] into dst in slivers of nr
// (16 or 32) columns.
func packBSIMD(dst []float32, nr int, trans bool, b []float32, ldb, p0, kc, j0, nc int) {
	if nc <= 0 {
		return
	}
	if trans {
		packBTrans(dst, nr, b, ldb, p0, kc, j0, nc)
		return
	}
	// B is k×n: row p of the panel is contiguous, and each sliver takes
	// nr values of it.
	full := nc / nr // slivers without padding
	_ = dst[:full*kc*nr]
	sliver := uintptr(kc*nr) * 4
	for p := range kc {
		src := b[(p0+p)*ldb+j0:][:nc]
		row := unsafe.Pointer(&dst[p*nr])
		for q := range uintptr(full) {
			// Eight-lane copies, which both instruction sets have. The
			// pointers are computed afresh rather than stepped, so as
			// never to point past the end of their allocation.
			s, d := unsafe.Pointer(&src[q*uintptr(nr)]), unsafe.Add(row, q*sliver)
			archsimd.LoadFloat32x8((*[8]float32)(s)).Store((*[8]float32)(d))
			archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(s, 32))).Store((*[8]float32)(unsafe.Add(d, 32)))
			if nr == 32 {
				archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(s, 64))).Store((*[8]float32)(unsafe.Add(d, 64)))
				archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(s, 96))).Store((*[8]float32)(unsafe.Add(d, 96)))
			}
		}
		if w := nc - full*nr; w > 0 {
			archsimd.ClearAVXUpperBits() // before copy's SSE moves
			row := dst[(full*kc+p)*nr:][:nr]
			copy(row, src[full*nr:])
			clear(row[w:])
		}
	}
	archsimd.ClearAVXUpperBits()
}

// packBTrans is packBSIMD for B stored n×k: each column of the panel is a
// contiguous row of B. Whole slivers are transposed in blocks of 8×8 in
// registers; moving one value at a time made the whole of 512×768×3072
// with Bᵀ measurably slower (BENCHMARKS.md has the figure).
func packBTrans(dst []float32, nr int, b []float32, ldb, p0, kc, j0, nc int) {
	kc8 := kc &^ 7
	for s := 0; s*nr < nc; s++ {
		d := dst[s*kc*nr:][:kc*nr]
		j := j0 + s*nr
		w := min(nr, nc-s*nr)
		if w < nr || kc8 < kc {
			// Scalar for the ragged edges: columns beyond w are zero.
			q0 := 0
			if w == nr {
				q0 = kc8 // only the steps after the last block of 8
			}
			for q := range nr {
				if q >= w {
					for p := range kc {
						d[p*nr+q] = 0
					}
					continue
				}
				for p := q0; p < kc; p++ {
					d[p*nr+q] = b[(j+q)*ldb+p0+p]
				}
			}
			if w < nr {
				continue
			}
		}
		for q := 0; q < nr; q += 8 {
			rows := b[(j+q)*ldb+p0:][:7*ldb+kc] // the 8 rows of B, bounds checked
			for p := 0; p < kc8; p += 8 {
				transpose8(unsafe.Pointer(&rows[p]), uintptr(ldb), unsafe.Pointer(&d[p*nr+q]), uintptr(nr))
			}
		}
		archsimd.ClearAVXUpperBits() // before the next sliver's scalar moves
	}
}

// transpose8 stores the transpose of the 8×8 block at src (rows ld floats
// apart) into dst (rows dld floats apart): dst[c·dld+r] = src[r·ld+c]. The
// caller guarantees both blocks lie within their slices.
func transpose8(src unsafe.Pointer, ld uintptr, dst unsafe.Pointer, dld uintptr) {
	row := func(p unsafe.Pointer, ld, i uintptr) *[8]float32 { return (*[8]float32)(unsafe.Add(p, i*ld*4)) }
	r0 := archsimd.LoadFloat32x8(row(src, ld, 0))
	r1 := archsimd.LoadFloat32x8(row(src, ld, 1))
	r2 := archsimd.LoadFloat32x8(row(src, ld, 2))
	r3 := archsimd.LoadFloat32x8(row(src, ld, 3))
	r4 := archsimd.LoadFloat32x8(row(src, ld, 4))
	r5 := archsimd.LoadFloat32x8(row(src, ld, 5))
	r6 := archsimd.LoadFloat32x8(row(src, ld, 6))
	r7 := archsimd.LoadFloat32x8(row(src, ld, 7))
	// Within each 128-bit half: pairs of columns of two rows, then
	// single columns of four rows.
	s0 := r0.SelectFromPairGrouped(0, 1, 4, 5, r1) // r0[0] r0[1] r1[0] r1[1]
	s1 := r0.SelectFromPairGrouped(2, 3, 6, 7, r1) // r0[2] r0[3] r1[2] r1[3]
	s2 := r2.SelectFromPairGrouped(0, 1, 4, 5, r3)
	s3 := r2.SelectFromPairGrouped(2, 3, 6, 7, r3)
	s4 := r4.SelectFromPairGrouped(0, 1, 4, 5, r5)
	s5 := r4.SelectFromPairGrouped(2, 3, 6, 7, r5)
	s6 := r6.SelectFromPairGrouped(0, 1, 4, 5, r7)
	s7 := r6.SelectFromPairGrouped(2, 3, 6, 7, r7)
	u0 := s0.SelectFromPairGrouped(0, 2, 4, 6, s2) // column 0 (4) of rows 0–3
	u1 := s0.SelectFromPairGrouped(1, 3, 5, 7, s2) // column 1 (5)
	u2 := s1.SelectFromPairGrouped(0, 2, 4, 6, s3) // column 2 (6)
	u3 := s1.SelectFromPairGrouped(1, 3, 5, 7, s3) // column 3 (7)
	u4 := s4.SelectFromPairGrouped(0, 2, 4, 6, s6) // the same for rows 4–7
	u5 := s4.SelectFromPairGrouped(1, 3, 5, 7, s6)
	u6 := s5.SelectFromPairGrouped(0, 2, 4, 6, s7)
	u7 := s5.SelectFromPairGrouped(1, 3, 5, 7, s7)
	// Low halves hold columns 0–3, high halves columns 4–7.
	u0.Select128FromPair(0, 2, u4).Store(row(dst, dld, 0))
	u1.Select128FromPair(0, 2, u5).Store(row(dst, dld, 1))
	u2.Select128FromPair(0, 2, u6).Store(row(dst, dld, 2))
	u3.Select128FromPair(0, 2, u7).Store(row(dst, dld, 3))
	u0.Select128FromPair(1, 3, u4).Store(row(dst, dld, 4))
	u1.Select128FromPair(1, 3, u5).Store(row(dst, dld, 5))
	u2.Select128FromPair(1, 3, u6).Store(row(dst, dld, 6))
	u3.Select128FromPair(1, 3, u7).Store(row(dst, dld, 7))
}

// packARows copies the h ≤ 5 rows op(A)[i0:i0+h, p0:p0+kc] into dst row
// by row, simdARowStride apart: dst[r·simdARowStride+p] = op(A)[i0+r, p0+p],
// with zeros for rows h to 4. For a row-major A that is five copies of
// contiguous memory, where interleaving the rows value by value took a
// noticeable share of a large product (BENCHMARKS.md has the measurement).
func packARows(dst []float32, trans bool, a []float32, lda, i0, h, p0, kc int) {
	const mr = 5
	d := dst[:mr*simdARowStride]
	if trans { // A is k×m: h contiguous values per step
		for p := range kc {
			for r, v := range a[(p0+p)*lda+i0:][:h] {
				d[r*simdARowStride+p] = v
			}
		}
	} else {
		for r := range h {
			copy(d[r*simdARowStride:][:kc], a[(i0+r)*lda+p0:][:kc])
		}
	}
	for r := h; r < mr; r++ {
		clear(d[r*simdARowStride:][:kc])
	}
}

// packASIMD copies the h ≤ 5 rows op(A)[i0:i0+h, p0:p0+kc] into dst as a
// plain sliver: dst[p·5+r] = op(A)[i0+r, p0+p].
func packASIMD(dst []float32, trans bool, a []float32, lda, i0, h, p0, kc int) {
	const mr = 5
	d := dst[:kc*mr]
	if trans { // A is k×m: h contiguous values per step
		for p := range kc {
			copy(d[p*mr:][:h], a[(p0+p)*lda+i0:][:h])
			clear(d[p*mr+h : (p+1)*mr])
		}
		return
	}
	if h == mr {
		// One step of k at a time, five rows read side by side: the
		// sliver is written in order, a cache line at a time.
		r0, r1, r2, r3, r4 := sliverRows(a, lda, i0, p0, kc)
		for p := range kc {
			s := (*[5]float32)(d[p*5:])
			s[0], s[1], s[2], s[3], s[4] = r0[p], r1[p], r2[p], r3[p], r4[p]
		}
		return
	}
	for r := range mr {
		if r >= h {
			for p := range kc {
				d[p*mr+r] = 0
			}
			continue
		}
		for p, v := range a[(i0+r)*lda+p0:][:kc] {
			d[p*mr+r] = v
		}
	}
}

// expandA copies the h ≤ 5 rows op(A)[i0:i0+h, p0:p0+kc] into dst with
// each element broadcast to 16 lanes: dst[(p·5+r)·16+l] = op(A)[i0+r, p0+p].
// It uses AVX-512 and serves only the 5×32 AVX-512 kernel. It runs once
// per sliver for ⌈nc/32⌉ calls of the micro-kernel, at about a cycle per
// element, the rate at which the core stores vectors.
func expandA(dst []float32, trans bool, a []float32, lda, i0, h, p0, kc int) {
	const (
		mr    = 5
		lanes = 16
		step  = mr * lanes * 4 // bytes per step of k in dst
	)
	d := unsafe.Pointer(&dst[:kc*mr*lanes][0])
	var zero archsimd.Float32x16
	if trans { // A is k×m: h contiguous values per step
		src := a[p0*lda+i0:][:(kc-1)*lda+h]
		for p := range kc {
			row := unsafe.Add(d, p*step)
			if h == mr {
				x := (*[mr]float32)(src[p*lda:])
				archsimd.BroadcastFloat32x16(x[0]).Store((*[lanes]float32)(row))
				archsimd.BroadcastFloat32x16(x[1]).Store((*[lanes]float32)(unsafe.Add(row, 64)))
				archsimd.BroadcastFloat32x16(x[2]).Store((*[lanes]float32)(unsafe.Add(row, 128)))
				archsimd.BroadcastFloat32x16(x[3]).Store((*[lanes]float32)(unsafe.Add(row, 192)))
				archsimd.BroadcastFloat32x16(x[4]).Store((*[lanes]float32)(unsafe.Add(row, 256)))
				continue
			}
			for r := range mr {
				v := zero
				if r < h {
					v = archsimd.BroadcastFloat32x16(src[p*lda+r])
				}
				v.Store((*[lanes]float32)(unsafe.Add(row, r*lanes*4)))
			}
		}
		archsimd.ClearAVXUpperBits()
		return
	}
	// A is m×k: one contiguous row of A per row of the sliver.
	if h == mr {
		r0, r1, r2, r3, r4 := sliverRows(a, lda, i0, p0, kc)
		for p := range kc {
			row := unsafe.Add(d, p*step)
			archsimd.BroadcastFloat32x16(r0[p]).Store((*[lanes]float32)(row))
			archsimd.BroadcastFloat32x16(r1[p]).Store((*[lanes]float32)(unsafe.Add(row, 64)))
			archsimd.BroadcastFloat32x16(r2[p]).Store((*[lanes]float32)(unsafe.Add(row, 128)))
			archsimd.BroadcastFloat32x16(r3[p]).Store((*[lanes]float32)(unsafe.Add(row, 192)))
			archsimd.BroadcastFloat32x16(r4[p]).Store((*[lanes]float32)(unsafe.Add(row, 256)))
		}
		archsimd.ClearAVXUpperBits()
		return
	}
	for r := range mr {
		col := unsafe.Add(d, r*lanes*4)
		if r >= h {
			for p := range kc {
				zero.Store((*[lanes]float32)(unsafe.Add(col, p*step)))
			}
			continue
		}
		for p, v := range a[(i0+r)*lda+p0:][:kc] {
			archsimd.BroadcastFloat32x16(v).Store((*[lanes]float32)(unsafe.Add(col, p*step)))
		}
	}
	archsimd.ClearAVXUpperBits()
}

// sliverRows returns the five rows A[i0+r, p0:p0+kc] of a full sliver of a
// row-major A, each of length kc, for the packing loops to read side by side.
func sliverRows(a []float32, lda, i0, p0, kc int) (r0, r1, r2, r3, r4 []float32) {
	return a[i0*lda+p0:][:kc], a[(i0+1)*lda+p0:][:kc], a[(i0+2)*lda+p0:][:kc],
		a[(i0+3)*lda+p0:][:kc], a[(i0+4)*lda+p0:][:kc]
}
