package orth_test

import (
	"fmt"

	"github.com/orthotune/orthotune/orth"
	"github.com/orthotune/orthotune/tensor"
)

// ExampleCayley_Rotation builds one 16×16 block from packed parameters, as
// stored in oft_R.weight, with the exact Cayley transform and PEFT's default
// 5-term series, and measures how orthogonal each is.
func ExampleCayley_Rotation() {
	const b = 16
	rng := tensor.NewRNG(4)
	v := rng.Randn(0.03, orth.NumParams(b)).Data // one row of oft_R.weight
	q := make([]float32, b*b)
	orth.UnpackSkew(v, b, q)

	r := make([]float32, b*b)
	for _, c := range []orth.Cayley{
		{Kind: orth.Exact},
		{Kind: orth.Neumann, Terms: 5},
		{Kind: orth.NeumannLegacy, Terms: 5},
	} {
		c.Rotation(q, b, r)
		e := orth.OrthogonalityError(r, b)
		sign, _ := orth.Determinant(r, b)
		if e < 1e-6 { // float32 rounding only
			fmt.Printf("%s: ‖RᵀR − I‖ < 1e-6, det sign %+d\n", c, sign)
		} else {
			fmt.Printf("%s: ‖RᵀR − I‖ = %.1e, det sign %+d\n", c, e, sign)
		}
	}
	// Output:
	// exact Cayley: ‖RᵀR − I‖ < 1e-6, det sign +1
	// Cayley–Neumann (5 terms): ‖RᵀR − I‖ = 4.7e-03, det sign +1
	// Cayley–Neumann, PEFT 0.16–0.17 series (5 terms): ‖RᵀR − I‖ = 3.5e-04, det sign +1
}

// ExampleHypersphericalEnergy: four neurons pointing at the corners of a
// square, and the same after rotating every neuron by one orthogonal
// matrix, which OFT guarantees leaves the energy unchanged.
func ExampleHypersphericalEnergy() {
	// nn.Linear weight (out=4, in=2): one neuron per row.
	w := []float32{
		1, 0,
		0, 2, // length does not matter
		-1, 0,
		0, -1,
	}
	fmt.Printf("HE = %.4f\n", orth.HypersphericalEnergy(w, 4, 2))

	// A 2×2 rotation from one packed parameter; merge it as OFT does.
	q, r := make([]float32, 4), make([]float32, 4)
	orth.UnpackSkew([]float32{0.3}, 2, q)
	orth.Cayley{Kind: orth.Exact}.Rotation(q, 2, r)
	orth.RotateWeightLinear(w, 4, 2, 2, r, false)
	fmt.Printf("HE after rotation = %.4f\n", orth.HypersphericalEnergy(w, 4, 2))
	// Output:
	// HE = 7.6569
	// HE after rotation = 7.6569
}
