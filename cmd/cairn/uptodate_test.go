//go:build linux

package main

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPull_UpToDate: pulling the version a directory already holds,
// unchanged since it was pulled, is a no-op that fetches and writes nothing
// (every file keeps its change time); a changed file, or a signature added
// since, makes the pull do its work again.
func TestPull_UpToDate(t *testing.T) {
	t.Setenv(passwordEnv, "")
	srv := newCountingServer(t)
	cache := t.TempDir()
	src := t.TempDir()
	writeTree(t, src, map[string][]byte{"config.json": []byte(`{"a":1}`), "model.safetensors": randomSafetensors(1 << 20)})
	ref := srv.Host + "/models/m:v1"
	mustRun(t, "push", src, ref, "--cache", t.TempDir())
	dir := filepath.Join(t.TempDir(), "m")
	mustRun(t, "pull", ref, dir, "--cache", cache)

	changed := func() map[string]time.Time {
		m := map[string]time.Time{}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				var st syscall.Stat_t
				syscall.Lstat(p, &st)
				m[p] = time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
			}
			return nil
		})
		return m
	}
	before := changed()
	code, out := runCLI(t, "pull", ref, dir, "--cache", cache)
	if code != 0 || !strings.Contains(out, "is up to date") || !maps.Equal(before, changed()) {
		t.Errorf("second pull: exit %d, files touched: %v\n%s", code, !maps.Equal(before, changed()), out)
	}

	// A signature added since: the pull records it (and fetches again,
	// the cache being empty).
	key := writePair(t, t.TempDir(), "k")
	mustRun(t, "sign", ref, "--key", key+".key")
	code, out = runCLI(t, "pull", ref, dir, "--cache", cache)
	if code != 0 || strings.Contains(out, "is up to date") {
		t.Errorf("pull after signing: exit %d:\n%s", code, out)
	}
	if code, out := runCLI(t, "verify", dir, "--key", key+".pub"); code != 0 {
		t.Errorf("verify after the new pull: exit %d:\n%s", code, out)
	}

	// A file replaced by one with the same content: its inode and change
	// time differ, so the pull checks again (and finds it identical).
	p := filepath.Join(dir, "config.json")
	os.Chmod(p, 0o644)
	os.Remove(p)
	os.WriteFile(p, []byte(`{"a":1}`), 0o444)
	code, out = runCLI(t, "pull", ref, dir, "--cache", cache)
	if code != 0 || strings.Contains(out, "is up to date") {
		t.Errorf("pull over a rewritten file: exit %d:\n%s", code, out)
	}
	code, out = runCLI(t, "pull", ref, dir, "--cache", cache)
	if code != 0 || !strings.Contains(out, "is up to date") {
		t.Errorf("pull after that: exit %d:\n%s", code, out)
	}
	// An extra file: the refusal of a non-empty directory, as before.
	os.WriteFile(filepath.Join(dir, "extra.txt"), []byte("x"), 0o644)
	if code, out := runCLI(t, "pull", ref, dir, "--cache", cache); code != exitRefused || !strings.Contains(out, "extra.txt") {
		t.Errorf("pull beside an extra file: exit %d:\n%s", code, out)
	}
}
