package chat

import (
	"strings"
	"testing"
)

// TestRenderErrorsSayChatTemplate: a template that fails while rendering
// gives an error that begins "chat template: ", once, without the Go
// package's name.
func TestRenderErrorsSayChatTemplate(t *testing.T) {
	for _, src := range []string{"{{ nope() }}", "{{ strftime_now() }}"} {
		_, err := mustParse(t, src).Render([]Message{{Role: "user", Content: "a"}}, Options{})
		if err == nil {
			t.Fatalf("%s: rendered", src)
		}
		if !strings.HasPrefix(err.Error(), "chat template: ") || strings.Count(err.Error(), "chat template") != 1 || strings.Contains(err.Error(), "chat:") {
			t.Errorf("%s: error %q, want one beginning \"chat template: \" and naming it once", src, err)
		}
	}
}
