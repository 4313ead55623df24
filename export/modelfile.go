package export

import (
	"fmt"
	"strings"
)

// Ollama TEMPLATEs (Go text/template over .Messages) for the chat families
// whose markers Ollama needs spelled out.
var ollamaTemplates = map[string]string{
	"chatml": `{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
`,
	"llama3": `{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>

{{ .Content }}<|eot_id|>
{{- end }}<|start_header_id|>assistant<|end_header_id|>

`,
	"gemma": `{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "assistant" }}<start_of_turn>model
{{ .Content }}{{ if not $last }}<end_of_turn>
{{ end }}
{{- else }}<start_of_turn>user
{{ .Content }}<end_of_turn>
{{ if $last }}<start_of_turn>model
{{ end }}
{{- end }}
{{- end }}`,
}

// chatFamily recognises a Jinja chat template's family by its markers.
func chatFamily(tmpl string) string {
	switch {
	case strings.Contains(tmpl, "<|im_start|>"):
		return "chatml"
	case strings.Contains(tmpl, "<|start_header_id|>"):
		return "llama3"
	case strings.Contains(tmpl, "<start_of_turn>"):
		return "gemma"
	}
	return ""
}

// endOfTurn are the tokens that end an assistant turn in each family.
var endOfTurn = map[string][]string{"chatml": {"<|im_end|>"}, "llama3": {"<|eot_id|>"}, "gemma": {"<end_of_turn>"}}

// modelfileText returns an Ollama Modelfile for a GGUF file named file (in the
// same directory) exported with v's tokenizer, and the chat family whose
// TEMPLATE it spells out ("" for none: Ollama then falls back on the
// tokenizer.chat_template in the file). Stop parameters are the EOS token
// and the family's end-of-turn token.
func modelfileText(file string, v *vocab) (string, string) {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by orthotune export gguf.\nFROM ./%s\n", file)
	family := chatFamily(v.tok.ChatTemplate())
	if t, ok := ollamaTemplates[family]; ok {
		fmt.Fprintf(&b, "TEMPLATE \"\"\"%s\"\"\"\n", t)
	} else {
		b.WriteString("# The chat template is not one whose Ollama template orthotune spells out: Ollama reads tokenizer.chat_template from the file.\n")
	}
	var stops []string
	if id, ok := v.tok.EOS(); ok {
		if s, ok := v.tok.Token(id); ok {
			stops = append(stops, s)
		}
	}
	for _, s := range endOfTurn[family] {
		if _, ok := v.tok.TokenID(s); ok {
			stops = append(stops, s)
		}
	}
	seen := map[string]bool{}
	for _, s := range stops {
		if !seen[s] {
			seen[s] = true
			fmt.Fprintf(&b, "PARAMETER stop %q\n", s)
		}
	}
	return b.String(), family
}
