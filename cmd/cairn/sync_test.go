package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/promote"
	"cairn.dev/cairn/registry/registrytest"
)

// runSyncJSON runs cairn sync --json and decodes its stdout; stderr holds
// the progress lines.
func runSyncJSON(t *testing.T, args ...string) (promote.SyncResult, string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(append([]string{"sync", "--json"}, args...))
	err := root.Execute()
	var res promote.SyncResult
	if jerr := json.Unmarshal(out.Bytes(), &res); jerr != nil {
		t.Fatalf("--json output %q: %v (stderr %s)", out.String(), jerr, errb.String())
	}
	return res, errb.String(), err
}

func TestSync_CLI(t *testing.T) {
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
	writeTree(t, dir, map[string][]byte{"config.json": []byte(`{"model_type":"tiny"}`), "model.safetensors": tiny})
	mustRun(t, "push", dir, a.Host+"/team-a/m:v1", "--cache", cache)
	mustRun(t, "sign", a.Host+"/team-a/m:v1", "--key", key+".key")
	mustRun(t, "push", dir, a.Host+"/team-a/unsigned:v1", "--cache", cache)

	first, progress, err := runSyncJSON(t, a.Host+"/team-a/**", b.Host+"/mirror/", "--key", key+".pub")
	if err == nil || !strings.Contains(err.Error(), "1 versions refused") {
		t.Fatalf("sync with an unsigned version: %v", err)
	}
	if first.Repositories != 2 || first.Versions != 2 || first.VersionsCopied != 1 || first.Blobs == 0 || len(first.Refused) != 1 {
		t.Fatalf("first: %+v", first)
	}
	if !strings.Contains(progress, "synced "+a.Host+"/team-a/m@") || !strings.Contains(progress, "refused "+a.Host+"/team-a/unsigned@") {
		t.Fatalf("progress: %s", progress)
	}
	code, out := runCLI(t, "verify", b.Host+"/mirror/m:v1", "--key", key+".pub", "--signatures-only")
	if code != 0 {
		t.Fatalf("verify at the mirror: exit %d: %s", code, out)
	}

	second, _, err := runSyncJSON(t, a.Host+"/team-a/m", b.Host+"/mirror/")
	if err != nil {
		t.Fatal(err)
	}
	if second.Repositories != 1 || second.Blobs != 0 || second.Bytes != 0 {
		t.Fatalf("second: %+v", second)
	}
}
