package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ignored reports whether a top-level path matches one of the patterns of
// an ignore file (the subset of the syntax both git and docker read the
// same way: a leading / anchors, * globs within a name).
func ignored(t *testing.T, file, path string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../..", file))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		p := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(line), "/"), "/")
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		first, _, _ := strings.Cut(path, "/")
		base := path[strings.LastIndex(path, "/")+1:]
		if ok, _ := filepath.Match(p, first); ok {
			return true
		}
		if ok, _ := filepath.Match(p, base); ok && !strings.Contains(p, "/") && !strings.HasPrefix(strings.TrimSpace(line), "/") {
			return true
		}
	}
	return false
}

// TestIgnoreFiles: neither a commit nor a docker build context takes the
// tools scripts/test builds, registry data, private keys or binaries (the
// old tree had no .dockerignore: COPY . . sent them all to the build).
func TestIgnoreFiles(t *testing.T) {
	for _, file := range []string{".gitignore", ".dockerignore"} {
		for _, p := range []string{".tools/bin/oras", "cairn-data/meta.db", "release.key", "keys/ci.key", "cairn"} {
			if !ignored(t, file, p) {
				t.Errorf("%s does not ignore %s", file, p)
			}
		}
		for _, p := range []string{"cmd/cairn/main.go", "go.mod", "testdata/model/tiny.safetensors", "release.pub"} {
			if ignored(t, file, p) {
				t.Errorf("%s ignores %s", file, p)
			}
		}
	}
}
