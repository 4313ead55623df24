package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/safetensors"
	"github.com/orthotune/orthotune/tensor"
)

// orthotune runs one command line in-process, exactly as main does.
func orthotune(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func repoPath(parts ...string) string {
	return filepath.Join(append([]string{testref.Dir(), "..", ".."}, parts...)...)
}

func TestForwardReproducesReference(t *testing.T) {
	cases, err := testref.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"llama", "gpt2"} {
		t.Run(arch, func(t *testing.T) {
			c := cases.Model[arch]
			out := filepath.Join(t.TempDir(), "out.safetensors")
			code, stdout, stderr := orthotune("forward", "--model", filepath.Join(testref.Dir(), c.Dir),
				"--input", repoPath("testdata", "examples", arch+"_input_ids.json"), "--out", out)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stdout, "loss ") {
				t.Errorf("stdout %q does not report the loss", stdout)
			}
			got, err := safetensors.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			ref, err := testref.Tensors(c.Base.File)
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			if info, _ := got.Info("logits"); info.DType != safetensors.F32 {
				t.Errorf("logits stored as %s, want F32", info.DType)
			}
			gl, _ := got.Float32("logits")
			rl, _ := ref.Float32("logits")
			if !gl.SameShape(rl) {
				t.Fatalf("logits shape %v, want %v", gl.Shape, rl.Shape)
			}
			if d := tensor.MaxAbsDiff(gl.Data, rl.Data); d > c.Base.Tolerances["logits"].Atol {
				t.Errorf("logits differ by %g", d)
			}
			loss, err := got.Float32("loss")
			if err != nil {
				t.Fatal(err)
			}
			if len(loss.Shape) != 1 || loss.Shape[0] != 1 || math.Abs(float64(loss.Data[0])-c.Base.Loss) > c.Base.Tolerances["loss"].Atol {
				t.Errorf("loss %v %v, want [1] %v", loss.Shape, loss.Data, c.Base.Loss)
			}
			if md := got.Metadata(); md["format"] != "pt" {
				t.Errorf("metadata %v, want format=pt", md)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestForwardBadInput: every kind of bad input exits 1 with a message that
// names the file and the field, and leaves no output file behind.
func TestForwardBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spec  testmodel.Spec
		ids   string // IDS.json content; "" = a valid file
		setup func(t *testing.T, modelDir, idsPath string) (string, string)
		want  []string
	}{
		{name: "missing config field", spec: testmodel.Spec{ModelType: "llama", Extra: map[string]any{"num_attention_heads": nil}},
			want: []string{"config.json", `"num_attention_heads"`}},
		{name: "unknown model_type", spec: testmodel.Spec{ModelType: "gpt2", Extra: map[string]any{"model_type": "t5"}},
			want: []string{"config.json", `model_type "t5"`}},
		{name: "tensor missing from checkpoint", spec: testmodel.Spec{ModelType: "gpt2", Extra: map[string]any{"n_layer": 3}},
			want: []string{"model.safetensors", `"transformer.h.2.ln_1.weight"`, "missing"}},
		{name: "tensor with the wrong shape", spec: testmodel.Spec{ModelType: "llama", Extra: map[string]any{"vocab_size": 40}},
			want: []string{"model.safetensors", `"model.embed_tokens.weight"`, "[32 16]", "[40 16]"}},
		{name: "id out of vocabulary", ids: `{"input_ids": [[1, 2, 3], [4, 32, 5]]}`,
			want: []string{"ids.json", "input_ids[1][1] = 32", "vocabulary [0, 32)"}},
		{name: "negative id", ids: `{"input_ids": [[1, -7]]}`, want: []string{"ids.json", "input_ids[0][1] = -7"}},
		{name: "empty input", ids: `{"input_ids": []}`, want: []string{"ids.json", "input_ids is empty"}},
		{name: "empty row", ids: `{"input_ids": [[]]}`, want: []string{"ids.json", "input_ids[0] is empty"}},
		{name: "single token", ids: `{"input_ids": [[3]]}`, want: []string{"ids.json", "at least 2"}},
		{name: "ragged rows", ids: `{"input_ids": [[1, 2], [3]]}`, want: []string{"ids.json", "input_ids[1] has 1 tokens"}},
		{name: "not JSON", ids: `{"input_ids": [[1, 2]`, want: []string{"ids.json", "not a JSON object"}},
		{name: "field missing", ids: `{"ids": [[1, 2]]}`, want: []string{"ids.json", `"input_ids" is missing`}},
		{name: "field of the wrong type", ids: `{"input_ids": "1 2 3"}`, want: []string{"ids.json", `"input_ids"`}},
		{name: "fractional id", ids: `{"input_ids": [[1, 2.5]]}`, want: []string{"ids.json", "input_ids[0][1] = 2.5"}},
		{name: "too long for gpt2", spec: testmodel.Spec{ModelType: "gpt2", Positions: 4}, ids: `{"input_ids": [[1, 2, 3, 4, 5]]}`,
			want: []string{"ids.json", "5 tokens", "4 positions"}},
		{name: "input file missing", setup: func(t *testing.T, m, ids string) (string, string) { return m, ids + ".gone" },
			want: []string{"ids.json.gone", "no such file"}},
		{name: "model directory missing", setup: func(t *testing.T, m, ids string) (string, string) { return m + "-gone", ids },
			want: []string{"m-gone", "config.json", "no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			modelDir := filepath.Join(tmp, "m")
			spec := tc.spec
			if spec.ModelType == "" {
				spec.ModelType = "llama"
			}
			if _, err := testmodel.Write(modelDir, spec); err != nil {
				t.Fatal(err)
			}
			ids := tc.ids
			if ids == "" {
				ids = `{"input_ids": [[1, 2, 3, 4], [5, 6, 7, 8]]}`
			}
			idsPath := writeFile(t, filepath.Join(tmp, "ids.json"), ids)
			if tc.setup != nil {
				modelDir, idsPath = tc.setup(t, modelDir, idsPath)
			}
			out := filepath.Join(tmp, "out.safetensors")
			code, _, stderr := orthotune("forward", "--model", modelDir, "--input", idsPath, "--out", out)
			if code != 1 {
				t.Errorf("exit status %d, want 1 (stderr: %s)", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not mention %q", stderr, w)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output file left behind (stat: %v)", err)
			}
			assertOnly(t, tmp, "ids.json", "m")
		})
	}
}

// assertOnly fails if dir holds anything but the named entries (e.g. a
// temporary file a failed write forgot).
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	sort.Strings(names)
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %v, want only %v", dir, got, names)
	}
}

func TestForwardUnwritableOutput(t *testing.T) {
	tmp := t.TempDir()
	ids := writeFile(t, filepath.Join(tmp, "ids.json"), `{"input_ids": [[1, 2, 3]]}`)
	out := filepath.Join(tmp, "no-such-dir", "out.safetensors")
	code, _, stderr := orthotune("forward", "--model", filepath.Join(testref.Dir(), "model", "llama"), "--input", ids, "--out", out)
	if code != 1 || !strings.Contains(stderr, "out.safetensors") {
		t.Errorf("exit %d, stderr %q; want 1 naming the output", code, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "Usage: orthotune <command>"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"forward", "--input", "x.json", "--out", "y"}, "--model is required"},
		{[]string{"forward", "--model", "m", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"forward", "--threads", "0"}, "positive integer"},
		{[]string{"inspect-model"}, "want 1 argument(s), got 0"},
		{[]string{"forward", "--model", "m", "--input", "i", "--out", "o", "extra"}, `unexpected argument "extra"`},
	} {
		code, _, stderr := orthotune(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	code, stdout, _ := orthotune("--help")
	if code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for name := range commands {
		if !strings.Contains(stdout, name) {
			t.Errorf("top-level help does not list %q", name)
		}
		for _, form := range [][]string{{name, "--help"}, {name, "-h"}, {"help", name}} {
			code, out, stderr := orthotune(form...)
			if code != 0 || !strings.Contains(out, "Usage: orthotune "+name) || !strings.Contains(out, "Flags:") {
				t.Errorf("%v: exit %d, stdout %q, stderr %q", form, code, out, stderr)
			}
		}
	}
}

func TestInspectModel(t *testing.T) {
	dir := filepath.Join(testref.Dir(), "model", "llama")
	code, stdout, stderr := orthotune("inspect-model", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"architecture   llama", "layers         2", "2 key/value", "F32×21",
		"model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj", "lm_head", "output head"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("inspect-model output lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = orthotune("inspect-model", "--json", dir)
	if code != 0 {
		t.Fatalf("--json exit %d", code)
	}
	var r modelReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	// 256·64·2 embeddings/head + 2 layers of (q 64² + k,v 2·32·64 + o 64² + 3·128·64 + 2·64 norms) + 64 final norm.
	wantParams := 256*64*2 + 2*(64*64+2*32*64+64*64+3*128*64+2*64) + 64
	if r.Parameters != wantParams || len(r.Linears) != 15 || r.KVHeads != 2 {
		t.Errorf("report: %d parameters (want %d), %d linears (want 15), %d kv heads", r.Parameters, wantParams, len(r.Linears), r.KVHeads)
	}
	code, _, stderr = orthotune("inspect-model", filepath.Join(t.TempDir(), "none"))
	if code != 1 || !strings.Contains(stderr, "config.json") {
		t.Errorf("missing dir: exit %d, stderr %q", code, stderr)
	}
}
