package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/tokenizer"
)

// pipelineFixture is a tiny Llama with a byte-level BPE tokenizer trained
// on a little text, and JSONL files to train on.
type pipelineFixture struct {
	modelDir, trainData, evalData string
}

var fixtureTexts = []string{
	"the cat sits on the mat.", "the dog runs in the park.", "a bird sings in the tree.",
	"the fox hides under the hill.", "one two three four five.", "anna has a red ball.",
}

func newPipelineFixture(t *testing.T) pipelineFixture { return newPipelineFixtureOf(t, "llama") }

// newPipelineFixtureOf is newPipelineFixture with a model of another
// architecture (see testmodel.Spec).
func newPipelineFixtureOf(t *testing.T, modelType string) pipelineFixture {
	t.Helper()
	root := t.TempDir()
	modelDir := filepath.Join(root, "model")
	tok := tokenizer.TrainByteLevelBPE(fixtureTexts, 300, []string{"<|endoftext|>"})
	vocab := (tok.VocabSize() + 7) / 8 * 8
	if _, err := testmodel.Write(modelDir, testmodel.Spec{ModelType: modelType, Hidden: 32, Heads: 4, KVHeads: 2, HeadDim: 16, Intermediate: 64,
		Layers: 2, Vocab: vocab, Positions: 64, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	if err := tok.WriteFile(modelDir); err != nil {
		t.Fatal(err)
	}
	var trainLines, evalLines []string
	for i := range 40 { // one record shape a file
		s := fixtureTexts[i%len(fixtureTexts)]
		b, _ := json.Marshal(map[string]string{"prompt": "say: ", "completion": s})
		trainLines = append(trainLines, string(b))
	}
	for _, s := range fixtureTexts[:3] {
		b, _ := json.Marshal(map[string]string{"prompt": "say: ", "completion": s})
		evalLines = append(evalLines, string(b))
	}
	f := pipelineFixture{modelDir: modelDir, trainData: filepath.Join(root, "train.jsonl"), evalData: filepath.Join(root, "eval.jsonl")}
	writeText(t, f.trainData, strings.Join(trainLines, "\n")+"\n")
	writeText(t, f.evalData, strings.Join(evalLines, "\n")+"\n")
	return f
}

func writeText(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f pipelineFixture) trainArgs(out string, extra ...string) []string {
	args := []string{"train", "--model", f.modelDir, "--data", f.trainData, "--eval-data", f.evalData, "--output-dir", out,
		"--max-steps", "40", "--learning-rate", "1e-2", "--per-device-train-batch-size", "4", "--warmup-steps", "4",
		"--lr-scheduler-type", "cosine", "--target-modules", "all-linear", "--eval-steps", "20", "--seed", "3"}
	return append(args, extra...)
}

func metricLosses(t *testing.T, dir string) (first, last float64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r struct{ Loss *float64 }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("metrics.jsonl: %v", err)
		}
		if r.Loss != nil {
			if n == 0 {
				first = *r.Loss
			}
			last = *r.Loss
			n++
		}
	}
	return first, last
}

var evalLossRe = func(s string) string {
	i := strings.Index(s, "loss ")
	if i < 0 {
		return ""
	}
	return strings.Fields(s[i+5:])[0]
}

// The end-to-end test: train OFT and LoRA through the CLI; the loss falls
// well below its start; the output directory is a PEFT adapter with
// trainer_state.json, metrics.jsonl and a loss curve; `eval` of the saved
// adapter gives the trainer's final eval loss; `generate` runs through it.
func TestTrainEvalGenerateEndToEnd(t *testing.T) {
	f := newPipelineFixture(t)
	for _, method := range []string{"oft", "lora"} {
		t.Run(method, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			code, stdout, stderr := orthotune(f.trainArgs(out, "--method", method)...)
			if code != 0 {
				t.Fatalf("train: exit %d\n%s", code, stderr)
			}
			first, last := metricLosses(t, out)
			t.Logf("%s: training loss %.4f → %.4f", method, first, last)
			if !(last < 0.5*first) {
				t.Errorf("loss fell only from %.4f to %.4f", first, last)
			}
			for _, name := range []string{"adapter_config.json", "adapter_model.safetensors", "trainer_state.json", "metrics.jsonl", "loss.svg", "train_config.json"} {
				if _, err := os.Stat(filepath.Join(out, name)); err != nil {
					t.Errorf("output directory lacks %s", name)
				}
			}
			if !strings.Contains(stdout, out) {
				t.Errorf("stdout %q does not name the output", stdout)
			}
			var st struct {
				LogHistory []struct {
					EvalLoss *float64 `json:"eval_loss"`
				} `json:"log_history"`
			}
			raw, _ := os.ReadFile(filepath.Join(out, "trainer_state.json"))
			if err := json.Unmarshal(raw, &st); err != nil {
				t.Fatal(err)
			}
			var final float64
			for _, r := range st.LogHistory {
				if r.EvalLoss != nil {
					final = *r.EvalLoss
				}
			}
			code, stdout, stderr = orthotune("eval", "--model", f.modelDir, "--adapter", out, "--data", f.evalData, "--json")
			if code != 0 {
				t.Fatalf("eval: exit %d\n%s", code, stderr)
			}
			var ev struct {
				Loss       float64
				Format     string
				Examples   int
				ExactMatch *int     `json:"exact_match"`
				ExactRate  *float64 `json:"exact_match_rate"`
			}
			if err := json.Unmarshal([]byte(stdout), &ev); err != nil {
				t.Fatal(err)
			}
			// prompt/completion data: the exact answers are counted.
			if ev.Format != "prompt/completion" || ev.ExactMatch == nil || ev.ExactRate == nil || *ev.ExactMatch > ev.Examples ||
				*ev.ExactRate != float64(*ev.ExactMatch)/float64(ev.Examples) {
				t.Errorf("eval --json: %s", stdout)
			}
			if ev.Loss != final {
				t.Errorf("eval of the saved adapter: loss %.9f, the trainer's final eval loss %.9f", ev.Loss, final)
			}
			code, base, _ := orthotune("eval", "--model", f.modelDir, "--data", f.evalData, "--json")
			var bv struct{ Loss float64 }
			if code != 0 || json.Unmarshal([]byte(base), &bv) != nil || !(bv.Loss > ev.Loss) {
				t.Errorf("base model eval loss %v (exit %d) not above the adapter's %v", bv.Loss, code, ev.Loss)
			}
			code, stdout, stderr = orthotune("generate", "--model", f.modelDir, "--adapter", out, "--prompt", "say: ", "--max-new-tokens", "12")
			if code != 0 {
				t.Fatalf("generate: exit %d\n%s", code, stderr)
			}
			t.Logf("generate: %q", stdout)
			if strings.TrimSpace(stdout) == "" {
				t.Error("generate printed nothing")
			}
		})
	}
}

// A run killed after a checkpoint and continued with --resume writes the
// same adapter, byte for byte, as one that ran through.
func TestTrainResumeBitIdentical(t *testing.T) {
	f := newPipelineFixture(t)
	whole := filepath.Join(t.TempDir(), "whole")
	if code, _, stderr := orthotune(f.trainArgs(whole, "--module-dropout", "0.1", "--save-steps", "15")...); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	// Simulate the interruption: keep only checkpoint-15 and what a run
	// stopped there had written.
	cut := filepath.Join(t.TempDir(), "cut")
	if code, _, stderr := orthotune(f.trainArgs(cut, "--module-dropout", "0.1", "--save-steps", "15")...); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, name := range []string{"checkpoint-30", "adapter_model.safetensors", "adapter_config.json", "trainer_state.json", "loss.svg"} {
		os.RemoveAll(filepath.Join(cut, name))
	}
	code, _, stderr := orthotune(f.trainArgs(cut, "--module-dropout", "0.1", "--save-steps", "15", "--resume")...)
	if code != 0 {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	a, _ := os.ReadFile(filepath.Join(whole, "adapter_model.safetensors"))
	b, _ := os.ReadFile(filepath.Join(cut, "adapter_model.safetensors"))
	if len(a) == 0 || string(a) != string(b) {
		t.Fatal("the resumed run's adapter differs from the uninterrupted run's")
	}
}

func TestTrainConfigFile(t *testing.T) {
	f := newPipelineFixture(t)
	cfg := filepath.Join(t.TempDir(), "cfg.json")
	writeText(t, cfg, `{"method": "lora", "lora_r": 4, "target_modules": ["q_proj", "v_proj"], "max_steps": 3, "learning-rate": 0.001}`)
	out := filepath.Join(t.TempDir(), "run")
	code, _, stderr := orthotune("train", "--model", f.modelDir, "--data", f.trainData, "--output-dir", out, "--config", cfg, "--max-steps", "2")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	raw, _ := os.ReadFile(filepath.Join(out, "adapter_config.json"))
	var ac struct {
		PeftType      string   `json:"peft_type"`
		R             int      `json:"r"`
		TargetModules []string `json:"target_modules"`
	}
	json.Unmarshal(raw, &ac)
	if ac.PeftType != "LORA" || ac.R != 4 || strings.Join(ac.TargetModules, ",") != "q_proj,v_proj" {
		t.Errorf("adapter_config.json %s", raw)
	}
	raw, _ = os.ReadFile(filepath.Join(out, "trainer_state.json"))
	if !strings.Contains(string(raw), `"global_step": 2`) {
		t.Error("the command line's --max-steps 2 did not win over the config file's 3")
	}
	writeText(t, cfg, `{"learning_rat": 0.001}`)
	code, _, stderr = orthotune("train", "--model", f.modelDir, "--data", f.trainData, "--output-dir", filepath.Join(t.TempDir(), "x"), "--config", cfg)
	if code != 1 || !strings.Contains(stderr, "learning_rat") {
		t.Errorf("unknown config key: exit %d, %s", code, stderr)
	}
}

// Bad input: a clear message naming the file and what is wrong, exit
// status 1, and no output directory.
func TestTrainBadInput(t *testing.T) {
	f := newPipelineFixture(t)
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "bad.jsonl")
	writeText(t, notJSON, "{\"text\": \"fine\"}\n{\"text\": oops}\n")
	neither := filepath.Join(dir, "neither.jsonl")
	writeText(t, neither, "{\"text\": \"fine\"}\n{\"label\": 1}\n")
	// A tokenizer with more tokens than the model's vocabulary.
	small := filepath.Join(dir, "small")
	if _, err := testmodel.Write(small, testmodel.Spec{ModelType: "llama", Hidden: 16, Layers: 1, Vocab: 32, Positions: 64}); err != nil {
		t.Fatal(err)
	}
	tok := tokenizer.TrainByteLevelBPE(fixtureTexts, 300, nil)
	if err := tok.WriteFile(small); err != nil {
		t.Fatal(err)
	}
	occupied := filepath.Join(dir, "occupied")
	os.MkdirAll(occupied, 0o755)
	writeText(t, filepath.Join(occupied, "notes.txt"), "mine")

	cases := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"missing data file", []string{"--data", filepath.Join(dir, "nope.jsonl")}, []string{"nope.jsonl"}},
		{"line not JSON", []string{"--data", notJSON}, []string{"bad.jsonl:2"}},
		{"record with neither text nor prompt", []string{"--data", neither}, []string{"neither.jsonl:2", "text"}},
		{"longer than the context", []string{"--max-seq-length", "65"}, []string{"65", "64", "config.json"}},
		{"tokenizer does not match", []string{"--model", small}, []string{"tokenizer.json", "vocab_size 32"}},
		{"bad method", []string{"--method", "dora"}, []string{"dora"}},
		{"bad scheduler", []string{"--lr-scheduler-type", "step"}, []string{"lr_scheduler_type"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := append(f.trainArgs(out), c.args...)
			code, _, stderr := orthotune(args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, stderr)
			}
			for _, w := range c.wants {
				if !strings.Contains(stderr, w) {
					t.Errorf("message %q does not mention %q", stderr, w)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("the output directory was created (%v)", err)
			}
		})
	}
	t.Run("output directory holds something else", func(t *testing.T) {
		code, _, stderr := orthotune(f.trainArgs(occupied)...)
		if code != 1 || !strings.Contains(stderr, "notes.txt") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		entries, _ := os.ReadDir(occupied)
		if len(entries) != 1 {
			t.Errorf("the occupied directory now holds %d entries", len(entries))
		}
	})
	t.Run("previous run without --resume", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "run")
		if code, _, stderr := orthotune(f.trainArgs(out, "--max-steps", "2")...); code != 0 {
			t.Fatal(stderr)
		}
		code, _, stderr := orthotune(f.trainArgs(out, "--max-steps", "2")...)
		if code != 1 || !strings.Contains(stderr, "--resume") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	t.Run("eval: missing adapter", func(t *testing.T) {
		code, _, stderr := orthotune("eval", "--model", f.modelDir, "--adapter", filepath.Join(dir, "none"), "--data", f.evalData)
		if code != 1 || !strings.Contains(stderr, "none") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	t.Run("generate: bad sampler", func(t *testing.T) {
		code, _, stderr := orthotune("generate", "--model", f.modelDir, "--prompt", "the", "--temperature", "1", "--top-p", "1.5")
		if code != 1 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	_ = fmt.Sprint
}

// FuzzConfigFile: any --config file is applied or refused with an error
// naming the file; nothing panics.
func FuzzConfigFile(f *testing.F) {
	for _, seed := range []string{`{"learning_rate": 0.001, "target_modules": ["q_proj"]}`, `{"resume": true}`, `[]`, `{"seed": -1}`,
		`{"max_steps": "7", "coft": true, "r": 4}`, `{"config": "x"}`, `{"lora_alpha": null}`, `not json`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(t.TempDir(), "cfg.json")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		tf := newTrainFlags()
		if err := tf.fs.Set("config", path); err != nil {
			t.Fatal(err)
		}
		if err := tf.applyConfigFile(); err != nil && !strings.Contains(err.Error(), path) {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}

// TestTrainMemoryFlags checks --gradient-checkpointing and --base-dtype
// through the CLI: checkpointing changes nothing in the adapter (dropout
// on, the same number of replicas: by default checkpointing keeps one),
// a bfloat16 base trains to a finite, lower loss, and bf16 with
// --method full or an unknown dtype is refused before anything is written.
func TestTrainMemoryFlags(t *testing.T) {
	f := newPipelineFixture(t)
	plain, ckpt, bf16 := filepath.Join(t.TempDir(), "plain"), filepath.Join(t.TempDir(), "ckpt"), filepath.Join(t.TempDir(), "bf16")
	for _, run := range []struct {
		out  string
		args []string
	}{
		{plain, []string{"--module-dropout", "0.1", "--replicas", "2"}},
		{ckpt, []string{"--module-dropout", "0.1", "--gradient-checkpointing", "--replicas", "2"}},
		{bf16, []string{"--base-dtype", "bf16", "--gradient-checkpointing"}},
	} {
		if code, _, stderr := orthotune(f.trainArgs(run.out, run.args...)...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", run.args, code, stderr)
		}
	}
	a, _ := os.ReadFile(filepath.Join(plain, "adapter_model.safetensors"))
	b, _ := os.ReadFile(filepath.Join(ckpt, "adapter_model.safetensors"))
	if len(a) == 0 || string(a) != string(b) {
		t.Error("--gradient-checkpointing changed the trained adapter")
	}
	if first, last := metricLosses(t, bf16); !(last < first) {
		t.Errorf("--base-dtype bf16: loss %g → %g", first, last)
	}
	for _, extra := range [][]string{{"--base-dtype", "bf16", "--method", "full"}, {"--base-dtype", "f8"}} {
		out := filepath.Join(t.TempDir(), "refused")
		if code, _, stderr := orthotune(f.trainArgs(out, extra...)...); code == 0 || !strings.Contains(stderr, "base_dtype") {
			t.Errorf("%v: exit %d, stderr %q; want a failure naming the setting base_dtype", extra, code, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: the refused run created its output directory", extra)
		}
	}
}
