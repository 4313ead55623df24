package tokenizer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

const (
	postTemplate = iota // TemplateProcessing, BertProcessing, RobertaProcessing
)

// postStep is one post-processor that adds special tokens. ByteLevel
// post-processors change offsets only and leave no step.
type postStep struct {
	kind     int
	template template
	path     string
}

// template is the "single" template of TemplateProcessing: special tokens
// around the sequence $A.
type template struct {
	items []templateItem
}

type templateItem struct {
	sequence bool   // $A
	token    string // the special token's name in special_tokens, or its content
	path     string
	ids      []int // resolved by resolve
}

func (s *postStep) resolve(t *Tokenizer) error {
	for i := range s.template.items {
		it := &s.template.items[i]
		if it.sequence {
			continue
		}
		if it.ids != nil {
			for _, id := range it.ids {
				if _, ok := t.Token(id); !ok {
					return fmt.Errorf("%s: special token %q has id %d, which is not in the vocabulary", it.path, it.token, id)
				}
			}
			continue
		}
		id, ok := t.lookupFinal(it.token)
		if !ok {
			return fmt.Errorf("%s: special token %q is neither in special_tokens nor in the vocabulary", it.path, it.token)
		}
		it.ids = []int{id}
	}
	return nil
}

// apply wraps ids in the template.
func (tp *template) apply(ids []int) []int {
	n := len(ids)
	for _, it := range tp.items {
		n += len(it.ids)
	}
	out := make([]int, 0, n)
	for _, it := range tp.items {
		if it.sequence {
			out = append(out, ids...)
		} else {
			out = append(out, it.ids...)
		}
	}
	return out
}

// leading returns the special ids before $A, trailing those after it.
func (tp *template) leading() []int {
	var ids []int
	for _, it := range tp.items {
		if it.sequence {
			return ids
		}
		ids = append(ids, it.ids...)
	}
	return nil
}

func (tp *template) trailing() []int {
	var ids []int
	seen := false
	for _, it := range tp.items {
		if it.sequence {
			seen = true
			continue
		}
		if seen {
			ids = append(ids, it.ids...)
		}
	}
	return ids
}

func parsePostProcessor(raw json.RawMessage, path string) ([]postStep, error) {
	o, typ, ok, err := component(raw, path)
	if !ok || err != nil {
		return nil, err
	}
	switch typ {
	case "ByteLevel":
		return nil, nil
	case "Sequence":
		return sequence(o, "processors", parsePostProcessor)
	case "TemplateProcessing":
		return parseTemplate(o)
	case "BertProcessing", "RobertaProcessing":
		var tokens [2]string
		for i, k := range []string{"cls", "sep"} {
			var pair []json.RawMessage
			if err := json.Unmarshal(o.fields[k], &pair); err != nil || len(pair) != 2 {
				return nil, fmt.Errorf("%s: want [token, id]", o.field(k))
			}
			if err := json.Unmarshal(pair[0], &tokens[i]); err != nil {
				return nil, fmt.Errorf("%s[0]: want a string", o.field(k))
			}
		}
		st := postStep{kind: postTemplate, path: path}
		st.template.items = []templateItem{
			{token: tokens[0], path: o.field("cls")},
			{sequence: true},
			{token: tokens[1], path: o.field("sep")},
		}
		return []postStep{st}, nil
	}
	return nil, unsupported(path, typ)
}

func parseTemplate(o object) ([]postStep, error) {
	st := postStep{kind: postTemplate, path: o.path}
	// special_tokens: name -> {"id": name, "ids": [...], "tokens": [...]}
	special := map[string][]int{}
	if o.has("special_tokens") {
		var m map[string]struct {
			IDs []int `json:"ids"`
		}
		if err := json.Unmarshal(o.fields["special_tokens"], &m); err != nil {
			return nil, jsonError(o.fields["special_tokens"], err, o.field("special_tokens"))
		}
		for k, v := range m {
			special[k] = v.IDs
		}
	}
	single := o.fields["single"]
	if isNull(single) {
		return nil, fmt.Errorf("%s: missing", o.field("single"))
	}
	var items []json.RawMessage
	var text string
	if err := json.Unmarshal(single, &items); err != nil {
		if err := json.Unmarshal(single, &text); err != nil {
			return nil, fmt.Errorf("%s: want a list of pieces or a template string", o.field("single"))
		}
	}
	if items == nil {
		// The string form: "<s> $A </s>".
		for i, w := range strings.Fields(text) {
			p := o.field("single") + "[" + strconv.Itoa(i) + "]"
			if strings.HasPrefix(w, "$") {
				seq := strings.SplitN(w[1:], ":", 2)[0]
				if seq != "" && seq != "A" && seq != "0" {
					continue // a pair template piece; single templates use $A
				}
				st.template.items = append(st.template.items, templateItem{sequence: true})
				continue
			}
			name := strings.SplitN(w, ":", 2)[0]
			st.template.items = append(st.template.items, templateItem{token: name, path: p, ids: special[name]})
		}
		return []postStep{st}, nil
	}
	for i, item := range items {
		p := o.field("single") + "[" + strconv.Itoa(i) + "]"
		var piece struct {
			SpecialToken *struct {
				ID string `json:"id"`
			}
			Sequence *struct {
				ID string `json:"id"`
			}
		}
		if err := json.Unmarshal(item, &piece); err != nil {
			return nil, fmt.Errorf("%s: want {\"SpecialToken\": ...} or {\"Sequence\": ...}", p)
		}
		switch {
		case piece.SpecialToken != nil:
			name := piece.SpecialToken.ID
			ids, ok := special[name]
			if !ok {
				ids = nil
			}
			st.template.items = append(st.template.items, templateItem{token: name, path: p + ".SpecialToken.id", ids: ids})
		case piece.Sequence != nil:
			if piece.Sequence.ID == "A" {
				st.template.items = append(st.template.items, templateItem{sequence: true})
			}
		default:
			return nil, fmt.Errorf("%s: want {\"SpecialToken\": ...} or {\"Sequence\": ...}", p)
		}
	}
	return []postStep{st}, nil
}
