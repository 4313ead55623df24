package nn

import (
	"math"
	"slices"
	"testing"

	"github.com/orthotune/orthotune/tensor"
)

func TestLinearGradients(t *testing.T) {
	for _, tc := range []struct {
		name   string
		conv1D bool
		bias   bool
	}{
		{"linear", false, true},
		{"linear no bias", false, false},
		{"conv1d", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := tensor.NewRNG(1)
			in, out := 7, 5
			wShape := []int{out, in}
			if tc.conv1D {
				wShape = []int{in, out}
			}
			var b *tensor.Tensor
			if tc.bias {
				b = randTensor(rng, 0.5, out)
			}
			l, err := NewLinear("layer", randTensor(rng, 0.5, wShape...), b, tc.conv1D)
			if err != nil {
				t.Fatal(err)
			}
			l.Weight.SetTrainable(true)
			if l.Bias != nil {
				l.Bias.SetTrainable(true)
			}
			x := randTensor(rng, 1, 2, 3, in)
			g := randTensor(rng, 1, 2, 3, out)
			loss := func() float64 { return weightedSum(l.Forward(x).Data, g.Data) }
			loss()
			dx := l.Backward(g)
			checkGrad(t, "dx", x.Data, dx.Data, loss, gradTol)
			checkGrad(t, "dW", l.Weight.W.Data, l.Weight.Grad.Data, loss, gradTol)
			if l.Bias != nil {
				checkGrad(t, "db", l.Bias.W.Data, l.Bias.Grad.Data, loss, gradTol)
			}
		})
	}
}

func TestLinearFrozenWeightHasNoGradient(t *testing.T) {
	rng := tensor.NewRNG(2)
	l, err := NewLinear("frozen", randTensor(rng, 1, 3, 4), randTensor(rng, 1, 3), false)
	if err != nil {
		t.Fatal(err)
	}
	x := randTensor(rng, 1, 2, 4)
	l.Forward(x)
	if dx := l.Backward(randTensor(rng, 1, 2, 3)); dx.Len() != 8 {
		t.Fatalf("dx has %d elements, want 8", dx.Len())
	}
	if l.Weight.Grad != nil || l.Bias.Grad != nil {
		t.Fatal("frozen parameters got gradient buffers")
	}
}

func TestLinearRejectsBadShapes(t *testing.T) {
	if _, err := NewLinear("l", tensor.New(3), nil, false); err == nil {
		t.Error("1-D weight accepted")
	}
	if _, err := NewLinear("l", tensor.New(3, 4), tensor.New(4), false); err == nil {
		t.Error("bias of the input width accepted")
	}
}

func TestEmbeddingGradient(t *testing.T) {
	rng := tensor.NewRNG(3)
	e, err := NewEmbedding("emb", randTensor(rng, 1, 6, 4))
	if err != nil {
		t.Fatal(err)
	}
	e.Weight.SetTrainable(true)
	ids := []int{1, 4, 1, 0, 5}
	g := randTensor(rng, 1, len(ids), 4)
	loss := func() float64 { return weightedSum(e.Forward(ids).Data, g.Data) }
	loss()
	e.Backward(g)
	checkGrad(t, "dW", e.Weight.W.Data, e.Weight.Grad.Data, loss, gradTol)
}

// TestEmbeddingReusesOutput checks that a training step's embedding
// lookup allocates nothing once the buffer exists, that its rows are
// right after the buffer has been written over, and that a lookup of no
// ids leaves Backward nothing to scatter.
func TestEmbeddingReusesOutput(t *testing.T) {
	rng := tensor.NewRNG(5)
	e, err := NewEmbedding("emb", randTensor(rng, 1, 6, 4))
	if err != nil {
		t.Fatal(err)
	}
	ids := []int{2, 5, 0}
	first := e.Forward(ids)
	for i := range first.Data { // callers may write into the output (GPT-2 adds positions)
		first.Data[i] = 7
	}
	if allocs := testing.AllocsPerRun(20, func() { e.Forward(ids) }); allocs != 0 {
		t.Errorf("Forward allocated %v times a call with its buffer in place", allocs)
	}
	y := e.Forward(ids)
	if y != first {
		t.Error("Forward did not reuse its output buffer")
	}
	for i, id := range ids {
		if got, want := y.Data[i*4:(i+1)*4], e.Weight.W.Data[id*4:(id+1)*4]; !slices.Equal(got, want) {
			t.Errorf("row %d = %v, want table row %d %v", i, got, id, want)
		}
	}
	e.Weight.SetTrainable(true)
	if got := e.Forward(nil); got.Len() != 0 {
		t.Errorf("Forward(nil) has %d elements", got.Len())
	}
	e.Backward(tensor.New(0, 4))
	for _, v := range e.Weight.Grad.Data {
		if v != 0 {
			t.Fatal("Backward after Forward(nil) scattered into the table's gradient")
		}
	}
}

func TestNormGradients(t *testing.T) {
	rng := tensor.NewRNG(4)
	d := 12
	x := randTensor(rng, 1.5, 3, 2, d)
	g := randTensor(rng, 1, 3, 2, d)

	t.Run("rmsnorm", func(t *testing.T) {
		n, err := NewRMSNorm("norm", randTensor(rng, 1, d), 1e-6)
		if err != nil {
			t.Fatal(err)
		}
		n.Weight.SetTrainable(true)
		loss := func() float64 { return weightedSum(n.Forward(x).Data, g.Data) }
		loss()
		dx := n.Backward(g)
		checkGrad(t, "dx", x.Data, dx.Data, loss, gradTol)
		checkGrad(t, "dw", n.Weight.W.Data, n.Weight.Grad.Data, loss, gradTol)
	})
	t.Run("layernorm", func(t *testing.T) {
		n, err := NewLayerNorm("ln", randTensor(rng, 1, d), randTensor(rng, 1, d), 1e-5)
		if err != nil {
			t.Fatal(err)
		}
		n.Weight.SetTrainable(true)
		n.Bias.SetTrainable(true)
		loss := func() float64 { return weightedSum(n.Forward(x).Data, g.Data) }
		loss()
		dx := n.Backward(g)
		checkGrad(t, "dx", x.Data, dx.Data, loss, gradTol)
		checkGrad(t, "dw", n.Weight.W.Data, n.Weight.Grad.Data, loss, gradTol)
		checkGrad(t, "db", n.Bias.W.Data, n.Bias.Grad.Data, loss, gradTol)
	})
}

func TestRMSNormMatchesDefinition(t *testing.T) {
	x := []float32{1, 2, 3, 4}
	n, _ := NewRMSNorm("n", &tensor.Tensor{Shape: []int{4}, Data: []float32{1, 1, 2, 2}}, 0)
	y := n.Forward(&tensor.Tensor{Shape: []int{1, 4}, Data: x})
	rms := math.Sqrt((1 + 4 + 9 + 16) / 4.0)
	want := []float64{1 / rms, 2 / rms, 6 / rms, 8 / rms}
	for i := range want {
		if math.Abs(float64(y.Data[i])-want[i]) > 1e-6 {
			t.Fatalf("y[%d] = %v, want %v", i, y.Data[i], want[i])
		}
	}
}

func TestActivationGradients(t *testing.T) {
	rng := tensor.NewRNG(5)
	gate := randTensor(rng, 2, 4, 9)
	up := randTensor(rng, 2, 4, 9)
	g := randTensor(rng, 1, 4, 9)
	t.Run("swiglu", func(t *testing.T) {
		var s SwiGLU
		loss := func() float64 { return weightedSum(s.Forward(gate, up).Data, g.Data) }
		loss()
		dgate, dup := s.Backward(g)
		checkGrad(t, "dgate", gate.Data, dgate.Data, loss, gradTol)
		checkGrad(t, "dup", up.Data, dup.Data, loss, gradTol)
	})
	for _, kind := range []GELUKind{GELUTanh, GELUExact} {
		t.Run("gelu", func(t *testing.T) {
			a := GELU{Kind: kind}
			loss := func() float64 { return weightedSum(a.Forward(gate).Data, g.Data) }
			loss()
			dx := a.Backward(g)
			checkGrad(t, "dx", gate.Data, dx.Data, loss, gradTol)
		})
	}
}

func TestGELUValues(t *testing.T) {
	// Reference values: 0.5x(1+tanh(√(2/π)(x+0.044715x³))) and 0.5x(1+erf(x/√2)).
	x := &tensor.Tensor{Shape: []int{3}, Data: []float32{-1, 0.5, 2}}
	tanhWant := []float64{-0.15880800939172324, 0.34571400982514394, 1.9545976940871754}
	exactWant := []float64{-0.15865525393145707, 0.34573123063700656, 1.9544997361036416}
	for kind, want := range map[GELUKind][]float64{GELUTanh: tanhWant, GELUExact: exactWant} {
		a := GELU{Kind: kind}
		y := a.Forward(x)
		for i := range want {
			if math.Abs(float64(y.Data[i])-want[i]) > 1e-6 {
				t.Errorf("kind %d: gelu(%v) = %v, want %v", kind, x.Data[i], y.Data[i], want[i])
			}
		}
	}
}

// TestGELUTanhF16 checks llama.cpp's GELU against values computed with
// Python's IEEE half (struct format 'e'): half(gelu_tanh(half(x))), and the
// clamps at ±10; its Backward, GeGLU's included, is GELUTanh's.
func TestGELUTanhF16(t *testing.T) {
	for _, c := range []struct{ x, want float32 }{
		{-12, 0}, {-10, 0}, {-9.99, 0}, {-1, -0.1588134765625}, {0.3, 0.1854248046875},
		{0.5, 0.345703125}, {2, 1.955078125}, {3.14159, 3.138671875}, {9.99, 9.9921875},
		{10, 10}, {10.3, 10.3},
	} {
		a := GELU{Kind: GELUTanhF16}
		if got := a.Forward(&tensor.Tensor{Shape: []int{1}, Data: []float32{c.x}}).Data[0]; got != c.want {
			t.Errorf("gelu_f16(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	rng := tensor.NewRNG(3)
	gate, up, dy := randTensor(rng, 3, 4, 37), randTensor(rng, 1, 4, 37), randTensor(rng, 1, 4, 37)
	f16, exact := GELU{Kind: GELUTanhF16}, GELU{Kind: GELUTanh}
	y, want := f16.Forward(gate), exact.Forward(gate)
	for i := range y.Data {
		// Rounding x moves gelu by at most |gelu'| ≤ 1.13 times 2⁻¹¹|x|, then
		// the result is rounded by 2⁻¹¹ of itself.
		x, w := math.Abs(float64(gate.Data[i])), math.Abs(float64(want.Data[i]))
		if d := math.Abs(float64(y.Data[i] - want.Data[i])); d > (1.13*x+w)/2048*1.01 {
			t.Errorf("gelu_f16(%v) = %v, gelu_tanh %v: further apart than rounding x and the result to half", gate.Data[i], y.Data[i], want.Data[i])
		}
	}
	if !slices.Equal(f16.Backward(dy).Data, exact.Backward(dy).Data) {
		t.Error("GELUTanhF16's Backward is not GELUTanh's")
	}
	glu16, glu := GeGLU{Kind: GELUTanhF16}, GeGLU{Kind: GELUTanh}
	h := glu16.Forward(gate, up)
	glu.Forward(gate, up)
	for i := range h.Data {
		if want := y.Data[i] * up.Data[i]; h.Data[i] != want {
			t.Fatalf("GeGLU f16 [%d] = %v, want gelu_f16(gate)·up = %v", i, h.Data[i], want)
		}
	}
	dg16, du16 := glu16.Backward(dy)
	dg, du := glu.Backward(dy)
	if !slices.Equal(dg16.Data, dg.Data) || !slices.Equal(du16.Data, du.Data) {
		t.Error("GeGLU's GELUTanhF16 Backward is not GELUTanh's")
	}
}

func TestRoPEGradientAndNorm(t *testing.T) {
	rng := tensor.NewRNG(6)
	headDim, heads, batch, seq := 8, 3, 2, 5
	r := &RoPE{HeadDim: headDim, InvFreq: DefaultInvFreq(headDim, 10000)}
	x := randTensor(rng, 1, batch*seq, heads*headDim)
	g := randTensor(rng, 1, batch*seq, heads*headDim)
	forward := func() []float32 {
		y := x.Clone()
		r.Apply(y.Data, 0, heads*headDim, batch*seq, seq, heads, false)
		return y.Data
	}
	loss := func() float64 { return weightedSum(forward(), g.Data) }
	dx := g.Clone()
	r.Apply(dx.Data, 0, heads*headDim, batch*seq, seq, heads, true)
	checkGrad(t, "dx", x.Data, dx.Data, loss, gradTol)

	y := forward()
	for row := 0; row < batch*seq; row++ {
		var n0, n1 float64
		for c := 0; c < heads*headDim; c++ {
			n0 += float64(x.Data[row*heads*headDim+c]) * float64(x.Data[row*heads*headDim+c])
			n1 += float64(y[row*heads*headDim+c]) * float64(y[row*heads*headDim+c])
		}
		if math.Abs(n0-n1) > 1e-4*n0 {
			t.Fatalf("row %d: RoPE changed the squared norm %v -> %v", row, n0, n1)
		}
	}
	// Position 0 is the identity.
	for c := 0; c < heads*headDim; c++ {
		if y[c] != x.Data[c] {
			t.Fatalf("position 0 rotated: %v -> %v", x.Data[c], y[c])
		}
	}
}

func TestCrossEntropyGradient(t *testing.T) {
	rng := tensor.NewRNG(7)
	logits := randTensor(rng, 2, 6, 11)
	targets := []int{3, IgnoreIndex, 0, 10, 7, IgnoreIndex}
	var ce CrossEntropy
	loss := func() float64 {
		l, _, err := ce.Forward(logits, targets)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l0 := loss()
	d := ce.Backward(1).Clone() // the next Forward reuses Backward's buffer
	checkGrad(t, "dlogits", logits.Data, d.Data, loss, gradTol)
	for _, row := range []int{1, 5} {
		for j := 0; j < 11; j++ {
			if d.Data[row*11+j] != 0 {
				t.Fatalf("ignored row %d has gradient", row)
			}
		}
	}
	// Uniform logits: loss = log(vocab).
	flat := tensor.New(2, 11)
	if l, n, _ := ce.Forward(flat, []int{1, 2}); math.Abs(l-math.Log(11)) > 1e-12 || n != 2 {
		t.Fatalf("uniform loss %v over %d, want log 11", l, n)
	}
	if _, _, err := ce.Forward(logits, []int{0, 1, 2, 3, 4, 11}); err == nil {
		t.Fatal("target outside vocabulary accepted")
	}
	_ = l0
}

func TestShiftedTargets(t *testing.T) {
	got := ShiftedTargets([][]int{{5, 6, 7}, {1, IgnoreIndex, 3}})
	want := []int{6, 7, IgnoreIndex, IgnoreIndex, 3, IgnoreIndex}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ShiftedTargets = %v, want %v", got, want)
		}
	}
}

func TestNeuronRows(t *testing.T) {
	w := []float32{1, 2, 3, 4, 5, 6} // Conv1D (in 2, out 3)
	conv, _ := NewLinear("c", &tensor.Tensor{Shape: []int{2, 3}, Data: w}, nil, true)
	want := []float32{1, 4, 2, 5, 3, 6}
	if got := conv.NeuronRows(); tensor.MaxAbsDiff(got, want) != 0 {
		t.Errorf("Conv1D neuron rows %v, want %v", got, want)
	}
	lin, _ := NewLinear("l", &tensor.Tensor{Shape: []int{3, 2}, Data: want}, nil, false)
	if got := lin.NeuronRows(); &got[0] != &want[0] {
		t.Error("nn.Linear neuron rows should be the weight itself")
	}
}
