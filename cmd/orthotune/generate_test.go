package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testmodel"
	"github.com/orthotune/orthotune/tokenizer"
)

// TestGenerateWarnsWhenTheContextCutsTheText: `generate` that runs into the
// model's context before --max-new-tokens says on stderr that the text is
// cut off; one that stops at --max-new-tokens does not.
func TestGenerateWarnsWhenTheContextCutsTheText(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	tok := tokenizer.TrainByteLevelBPE([]string{"the cat sat on the mat", "a dog ran in the park"}, 280, nil)
	vocab := (tok.VocabSize() + 7) / 8 * 8
	if _, err := testmodel.Write(dir, testmodel.Spec{ModelType: "llama", Hidden: 16, Heads: 2, KVHeads: 1, Intermediate: 32,
		Layers: 1, Vocab: vocab, Positions: 12, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	if err := tok.WriteFile(dir); err != nil {
		t.Fatal(err)
	}
	prompt := "the cat"
	n := len(tok.EncodeSpecial(prompt))

	code, stdout, stderr := orthotune("generate", "--model", dir, "--prompt", prompt, "--max-new-tokens", "50")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if stdout == "" {
		t.Error("nothing generated")
	}
	for _, want := range []string{"warning", "cut off", "12 positions", filepath.Join(dir, "config.json"), "--max-new-tokens 50"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not contain %q", stderr, want)
		}
	}
	if strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr %q: want one warning line", stderr)
	}

	code, _, stderr = orthotune("generate", "--model", dir, "--prompt", prompt, "--max-new-tokens", "2", "--no-stream")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if strings.Contains(stderr, "cut off") {
		t.Errorf("a %d-token prompt and 2 new tokens in 12 positions: %q", n, stderr)
	}
}
