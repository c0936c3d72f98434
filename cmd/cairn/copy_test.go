package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/registrytest"
)

// tagsOf lists HOST's repositories and tags, as cairn ls shows them.
func tagsOf(t *testing.T, srv *registrytest.Server) []string {
	t.Helper()
	var out []string
	repos, err := srv.Meta.Repositories(t.Context(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range repos {
		tags, err := srv.Meta.Tags(t.Context(), r, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range tags {
			out = append(out, r+":"+tag)
		}
	}
	slices.Sort(out)
	return out
}

func TestCopy_Gate(t *testing.T) {
	t.Setenv(passwordEnv, "")
	a := registrytest.NewServer(t, registry.Config{})
	b := registrytest.NewServer(t, registry.Config{})
	keys := t.TempDir()
	key := writePair(t, keys, "release")
	cache := t.TempDir()
	dir := t.TempDir()
	tiny, err := os.ReadFile("../../testdata/model/tiny.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string][]byte{"config.json": []byte(`{"model_type":"tiny"}`), "model.safetensors": tiny, "notes.txt": random(1 << 20)})
	mustRun(t, "push", dir, a.Host+"/train/m:v1", "--cache", cache)
	mustRun(t, "push", dir, a.Host+"/train/unsigned:v1", "--cache", cache)
	mustRun(t, "sign", a.Host+"/train/m:v1", "--key", key+".key")

	// Refused: nothing changes at the destination.
	before := tagsOf(t, b)
	code, out := runCLI(t, "copy", a.Host+"/train/unsigned:v1", b.Host+"/prod/unsigned:v1", "--key", key+".pub")
	if code != exitRefused || !strings.Contains(out, "FAIL signature") {
		t.Fatalf("copy of an unsigned model: exit %d: %s", code, out)
	}
	if after := tagsOf(t, b); !slices.Equal(after, before) {
		t.Fatalf("destination changed: %v, was %v", after, before)
	}

	out = mustRun(t, "copy", a.Host+"/train/m:v1", b.Host+"/prod/m", "--key", key+".pub")
	if !strings.Contains(out, "ok   signature") || !strings.Contains(out, "1 referrers") {
		t.Fatalf("copy: %s", out)
	}
	if got := tagsOf(t, b); !slices.Contains(got, "prod/m:v1") {
		t.Fatalf("destination: %v", got)
	}
	mustRun(t, "verify", b.Host+"/prod/m:v1", "--key", key+".pub")
	pulled := t.TempDir()
	mustRun(t, "pull", b.Host+"/prod/m:v1", pulled, "--cache", t.TempDir())
	got := readTree(t, pulled)
	want := readTree(t, dir)
	for p, w := range want {
		if string(got[p]) != string(w) {
			t.Fatalf("%s differs after the copy", p)
		}
	}
}
