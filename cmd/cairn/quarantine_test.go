package main

import (
	"path/filepath"
	"strings"
	"testing"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/registrytest"
)

func TestCLI_Quarantine(t *testing.T) {
	t.Setenv(passwordEnv, "")
	srv := registrytest.NewServer(t, registry.Config{})
	key := writePair(t, t.TempDir(), "k")
	ref := srv.Host + "/models/m:v1"
	d := pushModel(t, ref)
	mustRun(t, "sign", ref, "--key", key+".key")
	other := srv.Host + "/models/m:v2"
	pushModel(t, other)

	const reason = "CVE-2026-0001: pickle payload"
	out := mustRun(t, "quarantine", ref, "--reason", reason)
	if !strings.Contains(out, d.String()) {
		t.Errorf("quarantine output: %s", out)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"pull by tag", []string{"pull", ref, filepath.Join(t.TempDir(), "m")}},
		{"pull by digest", []string{"pull", srv.Host + "/models/m@" + d.String(), filepath.Join(t.TempDir(), "m")}},
		{"verify", []string{"verify", ref, "--key", key + ".pub"}},
		{"run", []string{"run", "--key", key + ".pub", "--ref", ref, "--dir", filepath.Join(t.TempDir(), "m"), "--", "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runCLI(t, tc.args...)
			if code != exitRefused || !strings.Contains(out, "quarantined: "+reason) {
				t.Errorf("exit %d, want 1 with the reason: %s", code, out)
			}
		})
	}
	if code, out := runCLI(t, "pull", other, filepath.Join(t.TempDir(), "m")); code != exitOK {
		t.Errorf("another version: exit %d: %s", code, out)
	}
	if out := mustRun(t, "quarantine", srv.Host+"/models/m", "--list"); !strings.Contains(out, d.String()) || !strings.Contains(out, reason) {
		t.Errorf("list: %s", out)
	}
	// Lifted by tag, although the tag no longer resolves with a HEAD.
	mustRun(t, "quarantine", ref, "--undo")
	mustRun(t, "verify", ref, "--key", key+".pub")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"quarantine", ref}, "exactly one of"},
		{[]string{"quarantine", ref, "--undo", "--reason", "x"}, "exactly one of"},
		{[]string{"quarantine", ref, "--undo"}, "not quarantined"},
		{[]string{"quarantine", srv.Host + "/models/m:nope", "--reason", "x"}, "resolve"},
	} {
		if code, out := runCLI(t, tc.args...); code != exitError || !strings.Contains(out, tc.want) {
			t.Errorf("cairn %s: exit %d, want 2 with %q: %s", strings.Join(tc.args, " "), code, tc.want, out)
		}
	}
}
