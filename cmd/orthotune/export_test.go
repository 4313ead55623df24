package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/gguf"
	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/tokenizer"
)

// exportModel copies the reference Llama into dir/m with a byte-level
// tokenizer whose chat template is ChatML.
func exportModel(t *testing.T, dir string) string {
	t.Helper()
	m := filepath.Join(dir, "m")
	if err := os.MkdirAll(m, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(testref.Dir(), "model", "llama", name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(m, name), string(b))
	}
	tok := tokenizer.TrainByteLevelBPE([]string{"hello"}, 256, nil)
	eos, _ := tok.Token(10)
	if err := tok.SetSpecialToken("eos_token", eos); err != nil {
		t.Fatal(err)
	}
	tok.SetChatTemplate("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}")
	if err := tok.WriteFile(m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestExportGGUF(t *testing.T) {
	tmp := t.TempDir()
	m := exportModel(t, tmp)
	out := filepath.Join(tmp, "out", "model.gguf")
	os.Mkdir(filepath.Dir(out), 0o755)
	adapter := filepath.Join(testref.Dir(), "model", "llama", "oft")
	code, stdout, stderr := orthotune("export", "gguf", "--model", m, "--adapter", adapter, "--out", out, "--outtype", "q8_0", "--modelfile")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"model.gguf", "llama", "OFT adapter merged", "Q8_0×", "F32×", "Modelfile", "chatml"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("stdout %q does not mention %q", stdout, w)
		}
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ti, ok := f.Tensor("blk.1.ffn_down.weight"); !ok || ti.Type != gguf.Q8_0 {
		t.Errorf("ffn_down: %+v", ti)
	}
	mf, err := os.ReadFile(filepath.Join(tmp, "out", "Modelfile"))
	if err != nil || !strings.Contains(string(mf), "FROM ./model.gguf") || !strings.Contains(string(mf), "<|im_start|>") {
		t.Errorf("Modelfile %q, %v", mf, err)
	}
	assertOnly(t, filepath.Join(tmp, "out"), "model.gguf", "Modelfile")
	// --force replaces both.
	if code, _, stderr := orthotune("export", "gguf", "--model", m, "--out", out, "--outtype", "bf16", "--modelfile", "--force"); code != 0 {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}
}

func TestExportGGUFBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  func(m, out string) []string
		setup func(t *testing.T, outDir string)
		want  []string
		keep  []string // files the output directory holds before and after
	}{
		{name: "adapter for another model",
			args: func(m, out string) []string {
				return []string{"--model", m, "--adapter", filepath.Join(testref.Dir(), "model", "gpt2", "lora"), "--out", out}
			},
			want: []string{"lora", "c_attn"}},
		{name: "unknown outtype",
			args: func(m, out string) []string { return []string{"--model", m, "--out", out, "--outtype", "q4_k"} },
			want: []string{"--outtype", "q4_k", "f32, f16, bf16 or q8_0"}},
		{name: "existing output",
			args:  func(m, out string) []string { return []string{"--model", m, "--out", out} },
			setup: func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "model.gguf"), "old") },
			want:  []string{"model.gguf", "exists", "--force"}, keep: []string{"model.gguf"}},
		{name: "existing Modelfile",
			args:  func(m, out string) []string { return []string{"--model", m, "--out", out, "--modelfile"} },
			setup: func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "Modelfile"), "FROM x") },
			want:  []string{"Modelfile", "exists"}, keep: []string{"Modelfile"}},
		{name: "read-only output directory",
			args: func(m, out string) []string { return []string{"--model", m, "--out", out} },
			setup: func(t *testing.T, dir string) {
				if os.Geteuid() == 0 {
					t.Skip("root writes into read-only directories; TestExportGGUFDiskFull fails the write part-way for root too")
				}
				os.Chmod(dir, 0o555)
				t.Cleanup(func() { os.Chmod(dir, 0o755) })
			},
			want: []string{"model.gguf", "permission denied"}},
		{name: "model without tokenizer",
			args: func(m, out string) []string {
				return []string{"--model", filepath.Join(testref.Dir(), "model", "llama"), "--out", out}
			},
			want: []string{"tokenizer.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			m := exportModel(t, tmp)
			outDir := filepath.Join(tmp, "out")
			os.Mkdir(outDir, 0o755)
			if tc.setup != nil {
				tc.setup(t, outDir)
			}
			args := append([]string{"export", "gguf"}, tc.args(m, filepath.Join(outDir, "model.gguf"))...)
			code, _, stderr := orthotune(args...)
			if code != 1 {
				t.Errorf("exit %d, want 1 (stderr %q)", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not mention %q", stderr, w)
				}
			}
			assertOnly(t, outDir, tc.keep...)
		})
	}
}

// TestExportGGUFDiskFull runs the export in a process whose file size limit
// (ulimit -f, which binds root too) stops the write part-way, as a full disk
// does: exit 1, an error naming the file, nothing left in the directory.
func TestExportGGUFDiskFull(t *testing.T) {
	tmp := t.TempDir()
	m := exportModel(t, tmp)
	outDir := filepath.Join(tmp, "out")
	os.Mkdir(outDir, 0o755)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// 64 blocks (32 or 64 KiB, by the shell's unit): the header fits, the
	// 430 KB of f32 weights do not.
	cmd := exec.Command("sh", "-c", `ulimit -f 64 && exec "$0" "$@"`, exe, "export", "gguf", "--model", m, "--out", filepath.Join(outDir, "model.gguf"), "--outtype", "f32")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1 (stderr %q)", err, stderr.String())
	}
	for _, w := range []string{"model.gguf", "file too large"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr %q does not mention %q", stderr.String(), w)
		}
	}
	assertOnly(t, outDir)
}
