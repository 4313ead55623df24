package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/peft"
	"github.com/orthotune/orthotune/safetensors"
)

// TestOrthogonalMethodsBadInput: BOFT and HRA settings PEFT refuses, and
// adapter files whose tensors do not fit, fail with exit 1, a message
// naming the setting or the file and tensor, and nothing written.
func TestOrthogonalMethodsBadInput(t *testing.T) {
	f := newPipelineFixture(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--method", "boft", "--boft-block-size", "0"}, "boft_block"},
		{[]string{"--method", "boft", "--boft-block-size", "5"}, "5"},
		{[]string{"--method", "boft", "--boft-block-size", "4", "--boft-n-butterfly-factor", "5"}, "butterfly"},
		{[]string{"--method", "hra", "--hra-r", "0"}, "r"},
	} {
		out := filepath.Join(t.TempDir(), "run")
		code, _, stderr := orthotune(f.trainArgs(out, tc.args...)...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit 1 naming %q", tc.args, code, stderr, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: the refused run created its output directory", tc.args)
		}
	}
	// A BOFT adapter_config.json with both a block size and a block number.
	boftSrc := repoPath("testdata", "peft-ref-ortho", "model", "llama", "boft")
	both := filepath.Join(t.TempDir(), "boft")
	os.MkdirAll(both, 0o755)
	w, _ := os.ReadFile(filepath.Join(boftSrc, peft.WeightsFile))
	os.WriteFile(filepath.Join(both, peft.WeightsFile), w, 0o644)
	c, _ := os.ReadFile(filepath.Join(boftSrc, peft.ConfigFile))
	var obj map[string]any
	json.Unmarshal(c, &obj)
	obj["boft_block_size"], obj["boft_block_num"] = 4, 4
	c, _ = json.Marshal(obj)
	os.WriteFile(filepath.Join(both, peft.ConfigFile), c, 0o644)
	code, _, stderr := orthotune("inspect", both)
	if code != 1 || !strings.Contains(stderr, peft.ConfigFile) || !strings.Contains(stderr, "boft_block_num") {
		t.Errorf("both block size and number: exit %d, %q; want exit 1 naming the file and the fields", code, stderr)
	}

	// An HRA file whose hra_u does not fit the model.
	src := repoPath("testdata", "peft-ref-ortho", "model", "llama", "hra")
	bad := filepath.Join(t.TempDir(), "hra")
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(filepath.Join(src, peft.ConfigFile))
	os.WriteFile(filepath.Join(bad, peft.ConfigFile), cfg, 0o644)
	st, err := safetensors.Open(filepath.Join(src, peft.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	var entries []safetensors.Entry
	for _, n := range st.Names() {
		v, _ := st.Float32(n)
		shape := v.Shape
		if strings.Contains(n, "layers.0.self_attn.q_proj") {
			shape = []int{shape[0] / 2, shape[1] * 2} // same size, wrong shape
		}
		entries = append(entries, safetensors.Entry{Name: n, DType: safetensors.F32, Shape: shape, Float: v.Data})
	}
	st.Close()
	if err := safetensors.Write(filepath.Join(bad, peft.WeightsFile), entries, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "merged")
	code, _, stderr = orthotune("merge", "--model", repoPath("testdata", "peft-ref", "model", "llama"), "--adapter", bad, "--out", out)
	if code != 1 || !strings.Contains(stderr, peft.WeightsFile) || !strings.Contains(stderr, "hra_u") || !strings.Contains(stderr, "q_proj") {
		t.Errorf("bad hra_u: exit %d, %q; want exit 1 naming the file, the layer and hra_u", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the refused merge wrote its output")
	}
}
