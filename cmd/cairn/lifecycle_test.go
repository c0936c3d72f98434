package main

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestLifecycle_Commands: cairn rm (a tag, a version; both recorded in the
// tag's history), pull --exclude with verify --exclude, cairn cache ls and
// prune, cairn version. None of them existed.
func TestLifecycle_Commands(t *testing.T) {
	c := newCLIEnv(t)
	host, _ := serveBinary(t, c.bin, "127.0.0.1")
	keys := t.TempDir()
	key := writePair(t, keys, "release")
	tiny, err := os.ReadFile("../../testdata/model/tiny.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	writeTree(t, src, map[string][]byte{"config.json": []byte(`{}`), "model.safetensors": tiny, "original/notes.txt": []byte("notes")})
	repo := host + "/models/m"
	c.must(t, "push", src, repo+":v1")
	c.must(t, "tag", repo+":v1", "v2")
	c.must(t, "sign", repo+":v1", "--key", key+".key")

	// --exclude leaves files out; verify DIR checks the same subset.
	dir := filepath.Join(t.TempDir(), "m")
	c.must(t, "pull", repo+":v1", dir, "--exclude", "original/**")
	if _, err := os.Stat(filepath.Join(dir, "original", "notes.txt")); err == nil {
		t.Error("pull --exclude 'original/**' wrote original/notes.txt")
	}
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err != nil {
		t.Errorf("pull --exclude left out model.safetensors: %v", err)
	}
	code, out := c.run(t, "verify", dir, "--key", key+".pub", "--exclude", "original/**")
	wording(t, "verify --exclude", code, out, exitOK, []string{"verified"}, nil)
	code, out = c.run(t, "verify", dir, "--key", key+".pub")
	wording(t, "verify without the exclude", code, out, exitRefused, []string{"original/notes.txt"}, nil)

	// rm of a tag: the version stays under v1; the history records it.
	code, out = c.run(t, "rm", repo+":v2")
	wording(t, "rm tag", code, out, exitOK, []string{"removed tag " + repo + ":v2", "the version stays"}, nil)
	code, out = c.run(t, "history", repo+":v2")
	if code != 0 || !regexp.MustCompile(`v2\s+sha256:[0-9a-f]{64}\s+-\s`).MatchString(out) {
		t.Errorf("history of the removed tag: exit %d, no move to -:\n%s", code, out)
	}
	code, out = c.run(t, "pull", repo+":v2", filepath.Join(t.TempDir(), "x"))
	wording(t, "pull of the removed tag", code, out, exitError, []string{`tag "v2" not found in ` + repo + "; its tags: v1"}, nil)

	// rm --version removes the manifest and its tags.
	code, out = c.run(t, "rm", repo+":v1", "--version")
	wording(t, "rm --version", code, out, exitOK, []string{"removed version " + repo + "@sha256:"}, nil)
	code, out = c.run(t, "history", repo+":v1")
	if code != 0 || !regexp.MustCompile(`v1\s+sha256:[0-9a-f]{64}\s+-\s`).MatchString(out) {
		t.Errorf("history of v1 after rm --version: exit %d:\n%s", code, out)
	}

	// The cache: ls lists what the pulls kept, prune --keep-days keeps the
	// recent ones, prune empties it.
	code, out = c.run(t, "cache", "ls")
	if code != 0 || !regexp.MustCompile(`: [1-9][0-9]* blobs`).MatchString(out) {
		t.Errorf("cache ls: exit %d:\n%s", code, out)
	}
	code, out = c.run(t, "cache", "prune", "--keep-days", "1")
	wording(t, "cache prune --keep-days 1", code, out, exitOK, []string{"removed 0 blobs"}, nil)
	code, out = c.run(t, "cache", "prune")
	if code != 0 || !regexp.MustCompile(`removed [1-9][0-9]* blobs`).MatchString(out) {
		t.Errorf("cache prune: exit %d:\n%s", code, out)
	}
	code, out = c.run(t, "cache", "ls")
	wording(t, "cache ls after prune", code, out, exitOK, []string{": 0 blobs"}, nil)

	code, out = c.run(t, "version")
	wording(t, "version", code, out, exitOK, []string{"cairn ", runtime.Version()}, nil)
}

// TestVersionString: the module version and the commit come from the
// build information.
func TestVersionString(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Path: "cairn.dev/cairn", Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.time", Value: "2026-12-01T00:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	if got, want := versionString(bi, true), "cairn v1.2.3 (commit 0123456789abcdef+modified, 2026-12-01T00:00:00Z) "+runtime.Version(); got != want {
		t.Errorf("versionString = %q, want %q", got, want)
	}
	if got := versionString(nil, false); !strings.HasPrefix(got, "cairn unknown (commit unknown)") {
		t.Errorf("no build info: %q", got)
	}
}
