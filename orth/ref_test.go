package orth

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/tensor"
)

// refCase is the part of a cases.json layer entry these tests read.
type refCase struct {
	File string `json:"file"`
	Base struct {
		Kind string `json:"kind"`
		In   int    `json:"in_features"`
		Out  int    `json:"out_features"`
	} `json:"base"`
	Config struct {
		BlockShare bool    `json:"block_share"`
		Coft       bool    `json:"coft"`
		Eps        float64 `json:"eps"`
		Terms      int     `json:"num_cayley_neumann_terms"`
		Neumann    bool    `json:"use_cayley_neumann"`
	} `json:"config"`
	Resolved struct {
		BlockSize  int       `json:"block_size"`
		Rows       int       `json:"n_param_rows"`
		RawNorms   []float64 `json:"raw_block_frobenius_norms"`
		CoftRadius float64   `json:"coft_radius_eps_over_sqrt_rows"`
	} `json:"resolved"`
	Tolerances map[string]testref.Tolerance `json:"tolerances"`
}

var oftCases = []string{
	"oft_cayley", "oft_neumann", "oft_neumann_k3", "oft_r4", "oft_block_share",
	"oft_block_adjust", "oft_coft", "oft_coft_mixed", "oft_conv1d",
}

// TestPEFTReference holds rotations, COFT, the forward, the merge and the
// full backward (through BlockGrad, Cayley.Backward and SkewGrad) against
// PEFT's float64 reference tensors.
func TestPEFTReference(t *testing.T) {
	cases, err := testref.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range oftCases {
		t.Run(name, func(t *testing.T) {
			raw, ok := cases.Layer[name]
			if !ok {
				t.Fatalf("cases.json has no layer case %q", name)
			}
			var c refCase
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			f, err := testref.Tensors(c.File)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			get := func(n string) *tensor.Tensor {
				tt, err := f.Float32(n)
				if err != nil {
					t.Fatal(err)
				}
				return tt
			}
			tol := func(n string) float64 {
				tl, ok := c.Tolerances[n]
				if !ok || tl.Atol <= 0 {
					t.Fatalf("no tolerance for %s", n)
				}
				return tl.Atol
			}
			report := func(what string, d, atol float64) {
				t.Helper()
				t.Logf("%-18s max|Δ| %.3g (atol %.3g)", what, d, atol)
				if !(d <= atol) {
					t.Errorf("%s: max|Δ| %.3g exceeds %.3g", what, d, atol)
				}
			}

			wt := get("oft_R.weight")
			cols := wt.Shape[1]
			b, err := BlockSizeFromParams(cols)
			if err != nil || b != c.Resolved.BlockSize {
				t.Fatalf("block size from %d columns: %d, %v; want %d", cols, b, err, c.Resolved.BlockSize)
			}
			rows := wt.Shape[0]
			if rows != c.Resolved.Rows {
				t.Fatalf("oft_R.weight has %d rows, cases.json says %d", rows, c.Resolved.Rows)
			}
			in, out := c.Base.In, c.Base.Out
			n := in / b
			shared := c.Config.BlockShare
			if shared != (rows == 1 && n > 1) && n > 1 {
				t.Fatalf("block_share %v with %d rows for %d blocks", shared, rows, n)
			}

			if c.Config.Coft {
				v := get("oft_R.weight_raw").Data
				for i, want := range c.Resolved.RawNorms {
					got := math.Sqrt2 * norm32(v[i*cols:(i+1)*cols])
					if math.Abs(got-want) > 1e-6*want {
						t.Errorf("raw row %d: √2·‖row‖ = %.9g, cases.json's block norm %.9g", i, got, want)
					}
				}
				if r := float64(float32(c.Config.Eps / math.Sqrt(float64(rows)))); r != c.Resolved.CoftRadius {
					t.Errorf("radius %.17g, cases.json %.17g", r, c.Resolved.CoftRadius)
				}
				np := ProjectCOFT(v, rows, b, c.Config.Eps)
				wantProjected := 0
				for _, nr := range c.Resolved.RawNorms {
					if nr > c.Resolved.CoftRadius {
						wantProjected++
					}
				}
				if np != wantProjected {
					t.Errorf("ProjectCOFT projected %d rows, want %d", np, wantProjected)
				}
				t.Logf("ProjectCOFT projected %d of %d rows", np, rows)
				report("COFT oft_R.weight", tensor.MaxAbsDiff(v, wt.Data), tol("oft_R.weight"))
			}

			cay := Cayley{Kind: Exact}
			if c.Config.Neumann {
				cay = Cayley{Kind: Neumann, Terms: c.Config.Terms}
			}
			blocks := make([]float32, rows*b*b)
			qs := make([]float32, rows*b*b)
			for i := range rows {
				UnpackSkew(wt.Data[i*cols:(i+1)*cols], b, qs[i*b*b:(i+1)*b*b])
				cay.Rotation(qs[i*b*b:(i+1)*b*b], b, blocks[i*b*b:(i+1)*b*b])
			}
			rot := get("rotation")
			bd := BlockDiagonal(blocks, n, b, shared)
			report("rotation", tensor.MaxAbsDiff(bd, rot.Data), tol("rotation"))

			// Forward: z = x·R_bd, against x·rotation(ref) in float64.
			x := get("x").Data
			m := len(x) / in
			z := make([]float32, m*in)
			RotateRows(x, m, in, b, blocks, shared, z)
			zRef := naiveMul(x, rot.Data, m, in, in)
			var maxL1 float64 // bound on how far R's error can move z
			for i := range m {
				for k := range n {
					var s float64
					for _, xv := range x[i*in+k*b : i*in+(k+1)*b] {
						s += math.Abs(float64(xv))
					}
					maxL1 = math.Max(maxL1, s)
				}
			}
			report("RotateRows", tensor.MaxAbsDiff(z, zRef), tol("rotation")*maxL1+1e-6)

			// Merge, then y = x·W' + bias through the merged weight.
			w := get("base.weight").Data
			bias := get("base.bias").Data
			merged := append([]float32(nil), w...)
			conv := c.Base.Kind != "nn.Linear"
			var wIO []float32 // weight as (in, out)
			if conv {
				RotateWeightConv1D(merged, in, out, b, blocks, shared)
				wIO = w
			} else {
				RotateWeightLinear(merged, out, in, b, blocks, shared)
				wIO = transpose(w, out, in)
			}
			report("merged.weight", tensor.MaxAbsDiff(merged, get("merged.weight").Data), tol("merged.weight"))
			y := naiveMul(z, wIO, m, in, out)
			for i := range m {
				for j := range out {
					y[i*out+j] += bias[j]
				}
			}
			report("y", tensor.MaxAbsDiff(y, get("y").Data), tol("y"))

			// Backward of L = Σ y⊙G: dz = G·Wᵀ(in, out); dx = dz·R_bdᵀ;
			// dR_i = x_iᵀ·dz_i; dQ by Cayley.Backward; dv by SkewGrad.
			g := get("G").Data
			dz := naiveMul(g, transpose(wIO, in, out), m, out, in)
			dx := make([]float32, m*in)
			RotateRowsT(dz, m, in, b, blocks, shared, dx)
			report("grad.x", tensor.MaxAbsDiff(dx, get("grad.x").Data), tol("grad.x"))
			dR := make([]float32, rows*b*b)
			BlockGrad(x, dz, m, in, b, shared, dR)
			dv := make([]float32, rows*cols)
			dq := make([]float32, b*b)
			for i := range rows {
				s := i * b * b
				cay.Backward(qs[s:s+b*b], blocks[s:s+b*b], dR[s:s+b*b], b, dq)
				SkewGrad(dq, b, dv[i*cols:(i+1)*cols])
			}
			report("grad.oft_R.weight", tensor.MaxAbsDiff(dv, get("grad.oft_R.weight").Data), tol("grad.oft_R.weight"))
		})
	}
}
