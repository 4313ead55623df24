package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// templateFile is one testdata/templates/*.json: a chat template and its
// special tokens, with where they came from.
type templateFile struct {
	Name         string `json:"name"`
	Model        string `json:"model"`
	Source       string `json:"source"`
	TokensFrom   string `json:"tokens_from"`
	License      string `json:"license"`
	BOSToken     string `json:"bos_token"`
	EOSToken     string `json:"eos_token"`
	ChatTemplate string `json:"chat_template"`
}

// refResult is one reference rendering: the text, or the error.
type refResult struct {
	Expected *string `json:"expected"`
	Error    string  `json:"error"`
	Raised   bool    `json:"raised"`
}

// refCase is one case of testdata/cases.json (see testdata/gen).
type refCase struct {
	Template            string                     `json:"template"`
	Name                string                     `json:"name"`
	Messages            []Message                  `json:"messages"`
	AddGenerationPrompt bool                       `json:"add_generation_prompt"`
	Extra               map[string]json.RawMessage `json:"extra"`
	refResult
	// Jinja2 is Python Jinja2's rendering, present where it differs from
	// @huggingface/jinja's.
	Jinja2 *refResult `json:"jinja2"`
}

type refFile struct {
	Generator string    `json:"generator"`
	Jinja2    string    `json:"jinja2"`
	Clock     string    `json:"clock"`
	Cases     []refCase `json:"cases"`
}

func loadTemplates(t testing.TB) map[string]templateFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "templates", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no templates in testdata/templates: %v", err)
	}
	out := map[string]templateFile{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var tf templateFile
		if err := json.Unmarshal(data, &tf); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if tf.Name == "" || tf.ChatTemplate == "" || tf.Source == "" || tf.License == "" {
			t.Fatalf("%s: name, chat_template, source and license are all required", p)
		}
		out[tf.Name] = tf
	}
	return out
}

func loadCases(t testing.TB) refFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rf refFile
	if err := json.Unmarshal(data, &rf); err != nil {
		t.Fatalf("testdata/cases.json: %v", err)
	}
	return rf
}

// pinClock sets strftime_now's clock for the rest of the test.
func pinClock(t *testing.T, at time.Time) {
	t.Helper()
	saved := now
	now = func() time.Time { return at }
	t.Cleanup(func() { now = saved })
}

func extraOf(c refCase) map[string]any {
	if len(c.Extra) == 0 {
		return nil
	}
	extra := map[string]any{}
	for k, v := range c.Extra {
		extra[k] = v
	}
	return extra
}

// TestReference renders every case of testdata/cases.json and compares it
// byte for byte with the reference: Python Jinja2 (configured as
// transformers configures it) where that differs from @huggingface/jinja,
// else @huggingface/jinja.
func TestReference(t *testing.T) {
	templates := loadTemplates(t)
	rf := loadCases(t)
	clock, err := time.Parse(time.RFC3339, rf.Clock)
	if err != nil {
		t.Fatalf("cases.json clock: %v", err)
	}
	pinClock(t, clock)
	t.Logf("reference: %s; %s", rf.Generator, rf.Jinja2)

	parsed := map[string]*Template{}
	for name, tf := range templates {
		tmpl, err := Parse(tf.ChatTemplate)
		if err != nil {
			t.Errorf("%s: Parse: %v", name, err)
			continue
		}
		parsed[name] = tmpl
	}

	type tally struct{ cases, mismatches, errs, jinja2, divergent int }
	tallies := map[string]*tally{}
	for _, c := range rf.Cases {
		tf, ok := templates[c.Template]
		if !ok {
			t.Fatalf("case %s/%s: no template %q", c.Template, c.Name, c.Template)
		}
		id := c.Template + "/" + c.Name
		tl := tallies[c.Template]
		if tl == nil {
			tl = &tally{}
			tallies[c.Template] = tl
		}
		tl.cases++
		tmpl := parsed[c.Template]
		if tmpl == nil {
			tl.mismatches++
			continue
		}
		got, err := tmpl.Render(c.Messages, Options{
			AddGenerationPrompt: c.AddGenerationPrompt,
			BOSToken:            tf.BOSToken,
			EOSToken:            tf.EOSToken,
			Extra:               extraOf(c),
		})

		want := c.refResult
		if reason, ok := divergences[id]; ok {
			switch {
			case c.Jinja2 == nil:
				t.Errorf("%s: listed in divergences but @huggingface/jinja and Jinja2 now agree; remove it", id)
			case mismatch(got, err, *c.Jinja2) == "":
				t.Errorf("%s: listed in divergences but now renders as Jinja2 does; remove it", id)
			default:
				t.Logf("%s: held to @huggingface/jinja, not Jinja2: %s", id, reason)
			}
			tl.divergent++
		} else if c.Jinja2 != nil {
			want = *c.Jinja2
			tl.jinja2++
		}
		if want.Expected == nil {
			tl.errs++
		}
		if m := mismatch(got, err, want); m != "" {
			t.Errorf("%s: %s", id, m)
			tl.mismatches++
		}
	}

	names := make([]string, 0, len(tallies))
	for name := range tallies {
		names = append(names, name)
	}
	sort.Strings(names)
	total := 0
	for _, name := range names {
		tl := tallies[name]
		total += tl.cases
		t.Logf("%-13s %d cases, %d mismatches (%d expected errors; where @huggingface/jinja and Jinja2 differ: %d held to Jinja2, %d to @huggingface/jinja)",
			name, tl.cases, tl.mismatches, tl.errs, tl.jinja2, tl.divergent)
	}
	for name := range templates {
		if tallies[name] == nil {
			t.Errorf("template %s has no cases in cases.json; run testdata/gen", name)
		}
	}
	t.Logf("%d templates, %d cases", len(tallies), total)
}

// divergences are the cases where chat renders as @huggingface/jinja does
// but not as Python Jinja2 does, with the reason. TestReference holds them to
// @huggingface/jinja and checks that they still differ from Jinja2.
var divergences = map[string]string{
	"llama3_1/tools_no_user": "an item or attribute of an undefined value is undefined in github.com/ardanlabs/jinja " +
		"(and in @huggingface/jinja) where Jinja2 raises UndefinedError; here messages[0]['role'] of an empty conversation",
}

// mismatch describes how a rendering differs from want, or is "".
func mismatch(got string, err error, want refResult) string {
	var re *RaiseError
	switch {
	case want.Expected != nil && err != nil:
		return fmt.Sprintf("unexpected error: %v", err)
	case want.Expected != nil && got != *want.Expected:
		return fmt.Sprintf("rendering differs\n got: %q\nwant: %q", got, *want.Expected)
	case want.Expected == nil && err == nil:
		return fmt.Sprintf("rendered %q, want an error (%q)", got, want.Error)
	case want.Expected == nil && want.Raised && (!errors.As(err, &re) || re.Message != want.Error):
		return fmt.Sprintf("error %v, want the template to raise %q", err, want.Error)
	case want.Expected == nil && !want.Raised && errors.As(err, &re):
		return fmt.Sprintf("the template raised %q, want a rendering error (%s)", re.Message, want.Error)
	}
	return ""
}

// TestDefaultMatchesTestdata keeps Default and the template the reference
// renderings were made from the same.
func TestDefaultMatchesTestdata(t *testing.T) {
	tf, ok := loadTemplates(t)["default"]
	if !ok {
		t.Fatal("testdata/templates/default.json is missing")
	}
	if tf.ChatTemplate != Default {
		t.Errorf("Default differs from testdata/templates/default.json:\n got: %q\nwant: %q", Default, tf.ChatTemplate)
	}
	if !strings.Contains(Default, "<|im_start|>") {
		t.Errorf("Default is not ChatML: %q", Default)
	}
}
