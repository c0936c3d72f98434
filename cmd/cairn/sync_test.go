package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
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

// kill -9 of cairn sync during a transfer, then a rerun: the destination
// ends complete, each version verified, and the rerun sent what the killed
// run had not.
func TestSync_KillAndRerun(t *testing.T) {
	t.Setenv(passwordEnv, "")
	bin := buildCairn(t)
	a := registrytest.NewServer(t, registry.Config{})
	b := registrytest.NewServer(t, registry.Config{})
	keys := t.TempDir()
	key := writePair(t, keys, "release")
	cache := t.TempDir()
	const n = 8
	for i := 1; i <= n; i++ {
		dir := t.TempDir()
		writeTree(t, dir, map[string][]byte{"config.json": fmt.Appendf(nil, `{"model_type":"tiny","v":%d}`, i), "weights.bin": random(4 << 20)})
		ref := fmt.Sprintf("%s/team-a/m:v%d", a.Host, i)
		mustRun(t, "push", dir, ref, "--cache", cache)
		mustRun(t, "sign", ref, "--key", key+".key")
	}

	cmd := exec.Command(bin, "sync", a.Host+"/team-a/*", b.Host+"/mirror", "--concurrency", "1")
	cmd.Env = append(os.Environ(), passwordEnv+"=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	killed := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "synced ") {
			cmd.Process.Kill()
			killed = true
			break
		}
	}
	io.Copy(io.Discard, stderr)
	cmd.Wait()
	if !killed {
		t.Fatal("cairn sync printed no progress line")
	}

	res, progress, err := runSyncJSON(t, a.Host+"/team-a/*", b.Host+"/mirror", "--key", key+".pub")
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, progress)
	}
	t.Logf("rerun after kill -9: %+v", res)
	if res.VersionsCopied == 0 || res.VersionsCopied == n {
		t.Fatalf("rerun copied %d of %d versions: the kill interrupted nothing, or the first run copied nothing", res.VersionsCopied, n)
	}
	for i := 1; i <= n; i++ {
		ref := fmt.Sprintf("%s/mirror/m:v%d", b.Host, i)
		if code, out := runCLI(t, "verify", ref, "--key", key+".pub", "--signatures-only"); code != 0 {
			t.Fatalf("verify %s: exit %d: %s", ref, code, out)
		}
	}
	again, _, err := runSyncJSON(t, a.Host+"/team-a/*", b.Host+"/mirror")
	if err != nil || again.Blobs != 0 {
		t.Fatalf("third run: %+v, %v", again, err)
	}
}
