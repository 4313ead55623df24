package orth

import (
	"fmt"
	"math"
)

// ProjectCOFT is PEFT's COFT constraint (OFTLayer._project_batch) applied
// in place to the rows packed rows of v, each NumParams(b) long. For each
// row, with Q its skew matrix, norm = ‖Q‖_F over the full b×b matrix (both
// triangles, so √2·‖row‖) and radius = float32(eps/√rows) (rounded to
// float32, as torch does); a row with norm > radius is scaled by
// radius/norm, others are left alone. It returns how many rows were
// projected. Norms and scales are computed in float64.
func ProjectCOFT(v []float32, rows, b int, eps float64) int {
	np := NumParams(b)
	if rows < 0 || b < 2 || len(v) < rows*np {
		panic(fmt.Sprintf("orth.ProjectCOFT: %d rows of b=%d (%d values each) need %d values, got %d", rows, b, np, rows*np, len(v)))
	}
	if rows == 0 {
		return 0
	}
	radius := float64(float32(eps / math.Sqrt(float64(rows))))
	projected := 0
	for i := range rows {
		row := v[i*np : (i+1)*np]
		var ss float64
		for _, x := range row {
			ss += float64(x) * float64(x)
		}
		norm := math.Sqrt(2 * ss)
		if norm > radius {
			s := radius / norm
			for k, x := range row {
				row[k] = float32(float64(x) * s)
			}
			projected++
		}
	}
	return projected
}

// SkewNorm returns the Frobenius norm of the skew-symmetric matrices whose
// strict upper triangles are packed in v (any number of rows): every packed
// value appears twice in Q, so ‖Q‖_F = √2·‖v‖. It is the norm COFT bounds.
func SkewNorm(v []float32) float64 {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	return math.Sqrt(2 * ss)
}
