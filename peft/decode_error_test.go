package peft_test

import (
	"strings"
	"testing"

	"github.com/orthotune/orthotune/peft"
	_ "github.com/orthotune/orthotune/peft/lora"
	_ "github.com/orthotune/orthotune/peft/oft"
)

// TestDecodeConfigTypeErrors: a field holding the wrong kind of JSON value
// is reported as the file, the field, what it wants and what it got, with
// none of encoding/json's Go type names.
func TestDecodeConfigTypeErrors(t *testing.T) {
	const lora = `{"peft_type": "LORA", "r": 4, "target_modules": ["q_proj"], `
	const oft = `{"peft_type": "OFT", "oft_block_size": 16, "r": 0, "target_modules": ["q_proj"], `
	for _, tc := range []struct{ data, want string }{
		{lora + `"lora_alpha": "16"}`, `adapter_config.json: field "lora_alpha": want a number, got string`},
		{lora + `"lora_dropout": [0.1]}`, `adapter_config.json: field "lora_dropout": want a number, got list`},
		{`{"peft_type": "LORA", "r": 1.5, "target_modules": ["q_proj"]}`, `adapter_config.json: field "r": want an integer, got 1.5`},
		{lora + `"use_rslora": "yes"}`, `adapter_config.json: field "use_rslora": want true or false, got string`},
		{lora + `"Lora_Alpha": true}`, `adapter_config.json: field "Lora_Alpha": want a number, got boolean`},
		{lora + `"bias": 0}`, `adapter_config.json: field "bias": want a string, got number`},
		{lora + `"task_type": {}}`, `adapter_config.json: field "task_type": want a string, got object`},
		{lora + `"modules_to_save": "lm_head"}`, `adapter_config.json: field "modules_to_save": want a list of strings, got string`},
		{lora + `"modules_to_save": ["lm_head", 3]}`, `adapter_config.json: field "modules_to_save": want a list of strings, got number in the list`},
		{oft + `"block_share": 1}`, `adapter_config.json: field "block_share": want true or false, got number`},
		{`{"peft_type": "OFT", "oft_block_size": "16", "r": 0, "target_modules": ["q_proj"]}`, `adapter_config.json: field "oft_block_size": want an integer, got string`},
	} {
		_, _, err := peft.ParseConfig("adapter_config.json", []byte(tc.data))
		if err == nil {
			t.Errorf("%s: accepted", tc.data)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.data, err, tc.want)
		}
		for _, internal := range []string{"Go struct", "Config.", "float64", "[]string", "of type"} {
			if strings.Contains(err.Error(), internal) {
				t.Errorf("%s: error %q shows Go internals (%q)", tc.data, err, internal)
			}
		}
	}
}
