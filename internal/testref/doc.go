// Package testref reads the float64-computed PEFT reference cases shipped in
// the project's testdata/peft-ref (a copy of ../shared/testdata/peft-ref):
// cases.json with its per-tensor tolerances, and the tensors beside it; and
// those of testdata/peft-ref-models (a copy of
// ../shared/testdata/peft-ref-models: further architectures, LoadModelRefs).
// Tests use it to hold orthotune's numbers against PyTorch's (Compare).
package testref
