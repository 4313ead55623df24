package tokenizer

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzConfig: no tokenizer_config.json (or special_tokens_map.json)
// makes the config parser panic, and every error names the file it was
// given. What it accepts, written back by configJSON (as WriteFile does),
// parses again to the same settings, except what configJSON does not
// write: a role set to null (or "") and a model_max_length of 2^53 or more.
func FuzzConfig(f *testing.F) {
	const cfgPath, mapPath = "fuzz/dir/tokenizer_config.json", "fuzz/dir/special_tokens_map.json"
	for _, name := range []string{"gpt2", "mistral", "qwen2.5", "qwen3"} {
		data, err := os.ReadFile(filepath.Join("testdata", name, "tokenizer_config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		`{"bos_token": "abc", "eos_token": {"__type": "AddedToken", "content": "<|end|>"}, "pad_token": null, "clean_up_tokenization_spaces": true, "model_max_length": 1e30, "chat_template": "T"}`,
		`{"eos_token": "x", "model_max_length": 2048, "chat_template": [{"name": "tool_use", "template": "A"}, {"name": "default", "template": "B"}], "additional_special_tokens": ["ab", {"content": "c"}, null]}`,
		`{"add_bos_token": true, "add_eos_token": false, "bos_token": "", "unk_token": {"content": ""}, "tokenizer_class": "LlamaTokenizer"}`,
		// Gemma 3's shape (its real file repeats every added token and is
		// 1.1 MB): extra_special_tokens, added_tokens_decoder, image tokens.
		`{"add_bos_token": true, "add_eos_token": false, "added_tokens_decoder": {"0": {"content": "<pad>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true}},
		"boi_token": "<start_of_image>", "bos_token": "<bos>", "chat_template": "{{ bos_token }}", "clean_up_tokenization_spaces": false, "eoi_token": "<end_of_image>", "eos_token": "<end_of_turn>",
		"extra_special_tokens": {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}, "image_token": "<image_soft_token>", "model_max_length": 1000000000000000019884624838656,
		"pad_token": "<pad>", "padding_side": "left", "processor_class": "Gemma3Processor", "sp_model_kwargs": null, "spaces_between_special_tokens": false, "tokenizer_class": "GemmaTokenizer", "unk_token": "<unk>", "use_default_system_prompt": false}`,
		`{"chat_template": [{"name": "default"}]}`,
		`{"model_max_length": -1}`,
		`{"bos_token": 1}`,
		`{"additional_special_tokens": [{"lstrip": true}]}`,
		`[]`,
		`{`,
	} {
		f.Add([]byte(s))
	}
	namesFile := func(t *testing.T, err error, file string) {
		t.Helper()
		if !strings.HasPrefix(err.Error(), file+": ") {
			t.Fatalf("error %q does not start with %s", err, file)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m tokenizerConfig
		if err := m.parseSpecialMap(data, mapPath); err != nil {
			namesFile(t, err, mapPath)
		}
		var c tokenizerConfig
		if err := c.parse(data, cfgPath); err != nil {
			namesFile(t, err, cfgPath)
			return
		}
		out := (&Tokenizer{cfg: c}).configJSON()
		var back tokenizerConfig
		if err := back.parse(out, cfgPath); err != nil {
			t.Fatalf("configJSON output does not parse: %v\n%s", err, out)
		}
		if !maps.Equal(c.special, back.special) && (len(c.special) > 0 || len(back.special) > 0) {
			t.Fatalf("special tokens %v became %v\n%s", c.special, back.special, out)
		}
		if !slices.Equal(c.additionalSpecial, back.additionalSpecial) {
			t.Fatalf("additional_special_tokens %q became %q\n%s", c.additionalSpecial, back.additionalSpecial, out)
		}
		for _, b := range []struct {
			name      string
			was, read *bool
		}{{"add_bos_token", c.addBOS, back.addBOS}, {"add_eos_token", c.addEOS, back.addEOS}} {
			if (b.was == nil) != (b.read == nil) || b.was != nil && *b.was != *b.read {
				t.Fatalf("%s changed in the round trip\n%s", b.name, out)
			}
		}
		maxLen := c.modelMaxLength
		if maxLen >= 1<<53 {
			maxLen = 0
		}
		class := c.tokenizerClass
		if class == "" {
			class = "PreTrainedTokenizerFast"
		}
		if c.cleanUp != back.cleanUp || c.chatTemplate != back.chatTemplate || maxLen != back.modelMaxLength || class != back.tokenizerClass {
			t.Fatalf("config %+v became %+v\n%s", c, back, out)
		}
	})
}
