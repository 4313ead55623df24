package peft_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/internal/testref"
	"github.com/orthotune/orthotune/peft"
	_ "github.com/orthotune/orthotune/peft/lora"
	_ "github.com/orthotune/orthotune/peft/oft"
)

// FuzzConfig: no adapter_config.json makes peft.ParseConfig panic;
// its errors and warnings name the file path it was given; and a config it
// accepts is written by EncodeConfig into bytes that parse again to a
// config EncodeConfig writes identically.
func FuzzConfig(f *testing.F) {
	const path = "fuzz/adapter/adapter_config.json"
	for _, arch := range []string{"llama", "gpt2"} {
		for _, name := range []string{"lora", "oft", "oft_cayley"} {
			data, err := os.ReadFile(filepath.Join(testref.Dir(), "model", arch, name, peft.ConfigFile))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	for _, s := range []string{
		`{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": "all-linear", "rank_pattern": {"q_proj": 2, "^model\\.layers\\.0\\..*": 8}, "alpha_pattern": {"v_proj": 3.5}, "init_lora_weights": "gaussian", "use_rslora": true, "custom": [1, {"x": null}]}`,
		`{"peft_type": "LORA", "r": 4, "target_modules": ["q_proj"], "layers_to_transform": [0, 1], "layers_pattern": "layers", "exclude_modules": "k_proj", "modules_to_save": ["lm_head"]}`,
		`{"peft_type": "LORA", "r": 4, "target_modules": ["q_proj"], "rank_pattern": {"(": 2}}`,
		`{"peft_type": "LORA", "r": 0, "target_modules": null}`,
		`{"peft_type": "OFT", "oft_block_size": 0, "r": 2, "target_modules": ["q_proj", "v_proj"], "coft": true, "eps": 1e-4, "block_share": true, "peft_version": "0.17.1"}`,
		`{"peft_type": "OFT", "oft_block_size": 4, "target_modules": "q_proj", "use_cayley_neumann": false, "peft_version": "0.20.1.dev0@abc"}`,
		`{"peft_type": "OFT", "r": 8, "target_modules": ["q_proj"]}`,
		`{"peft_type": "VERA"}`,
		`{"peft_type": null}`,
		`{}`,
		`[`,
	} {
		f.Add([]byte(s))
	}
	// ParseConfig logs every warning; the fuzzer would drown in them.
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.Cleanup(func() { slog.SetDefault(prev) })

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, warnings, err := peft.ParseConfig(path, data)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name %s", err, path)
			}
			return
		}
		for _, w := range warnings {
			if !strings.Contains(w, path) {
				t.Fatalf("warning %q does not name %s", w, path)
			}
		}
		out, err := peft.EncodeConfig(cfg)
		if err != nil {
			t.Fatalf("EncodeConfig of a parsed config: %v", err)
		}
		back, _, err := peft.ParseConfig(path, out)
		if err != nil {
			t.Fatalf("EncodeConfig output does not parse: %v\n%s", err, out)
		}
		again, err := peft.EncodeConfig(back)
		if err != nil {
			t.Fatalf("EncodeConfig after the round trip: %v", err)
		}
		if !bytes.Equal(out, again) {
			t.Fatalf("EncodeConfig, ParseConfig, EncodeConfig changed the config:\n%s\nthen\n%s", out, again)
		}
	})
}

// TestConfigShortRawFields: a LoRA config setting one of the fields
// orthotune keeps as raw JSON to a short value (at most 8 bytes) parses,
// leaves the other raw fields null, and round-trips. FuzzConfig found the
// first input.
func TestConfigShortRawFields(t *testing.T) {
	for _, data := range []string{
		`{"AlorA_invoCAtion_tokens":0, "peft_tYpe": "LORA"}`,
		`{"peft_type": "LORA", "r": 4, "target_modules": ["q_proj"], "arrow_config": {}}`,
		`{"peft_type": "LORA", "r": 4, "target_modules": ["q_proj"], "eva_config": 0}`,
		`{"peft_type": "LORA", "r": 4, "target_modules": ["q_proj"], "use_bdlora": true}`,
	} {
		cfg, _, err := peft.ParseConfig("adapter_config.json", []byte(data))
		if strings.Contains(data, "AlorA") {
			// alora_invocation_tokens is refused, but by Validate, naming the file.
			if err == nil || !strings.HasPrefix(err.Error(), "adapter_config.json: ") {
				t.Errorf("%s: err = %v, want a refusal naming the file", data, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", data, err)
			continue
		}
		out, err := peft.EncodeConfig(cfg)
		if err != nil {
			t.Errorf("%s: EncodeConfig: %v", data, err)
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"layer_replication", "target_parameters", "kasa_config", "velora_config"} {
			if m[k] != nil {
				t.Errorf("%s: %s written as %v, want null", data, k, m[k])
			}
		}
	}
}
