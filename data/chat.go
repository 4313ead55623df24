package data

import (
	"errors"
	"fmt"
	"strings"
)

// contentMarker stands in for an assistant message's content to find where
// the chat template puts it. It has no spaces, so templates that trim the
// content keep it whole.
const contentMarker = "ORTHOTUNE-ASSISTANT-CONTENT-8d2f41c7"

// chat renders and tokenizes a conversation; see Decode for AssistantOnly.
func (d *decoder) chat(msgs []Message) (ids, labels []int, err error) {
	full, err := d.opts.Chat.RenderChat(msgs)
	if err != nil {
		return nil, nil, fmt.Errorf(`"messages": %w`, err)
	}
	tok := d.opts.Tokenizer
	if !d.opts.AssistantOnly {
		ids = tok.Encode(full)
		return ids, append([]int(nil), ids...), nil
	}
	spans, err := d.assistantSpans(msgs, full)
	if err != nil {
		return nil, nil, err
	}
	add := func(text string, loss bool) {
		if text == "" {
			return
		}
		seg := tok.Encode(text)
		ids = append(ids, seg...)
		for _, id := range seg {
			if loss {
				labels = append(labels, id)
			} else {
				labels = append(labels, IgnoreIndex)
			}
		}
	}
	pos := 0
	for _, s := range spans {
		add(full[pos:s[0]], false)
		add(full[s[0]:s[1]], true)
		pos = s[1]
	}
	add(full[pos:], false)
	return ids, labels, nil
}

// assistantSpans returns, for each assistant message, the byte range of
// full that carries the loss: its rendered content and the end-of-turn text
// the template writes after it.
func (d *decoder) assistantSpans(msgs []Message, full string) ([][2]int, error) {
	var spans [][2]int
	end := 0
	probe := make([]Message, 0, len(msgs))
	for i, m := range msgs {
		if m.Role != "assistant" {
			continue
		}
		field := fmt.Sprintf(`"messages"[%d]`, i)
		probe = append(append(probe[:0], msgs[:i]...), Message{Role: m.Role, Content: contentMarker})
		marked, err := d.opts.Chat.RenderChat(probe)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		if strings.Count(marked, contentMarker) != 1 {
			return nil, fmt.Errorf("%s: the chat template does not write the assistant content verbatim, so AssistantOnly cannot locate it", field)
		}
		k := strings.Index(marked, contentMarker)
		head, tail := marked[:k], marked[k+len(contentMarker):]
		upTo, err := d.opts.Chat.RenderChat(msgs[:i+1])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		if len(head)+len(tail) > len(upTo) || !strings.HasPrefix(upTo, head) || !strings.HasSuffix(upTo, tail) {
			return nil, fmt.Errorf("%s: the chat template renders the turns around this assistant message differently with other content, so AssistantOnly cannot mask it", field)
		}
		if !strings.HasPrefix(full, upTo) || len(head) < end {
			return nil, fmt.Errorf("%s: the chat template renders the conversation up to this message differently from its start in the whole conversation (it rewrites earlier turns), so AssistantOnly cannot mask it", field)
		}
		spans = append(spans, [2]int{len(head), len(upTo)})
		end = len(upTo)
	}
	if len(spans) == 0 {
		return nil, errors.New(`"messages" has no "assistant" message to learn from (AssistantOnly)`)
	}
	return spans, nil
}
