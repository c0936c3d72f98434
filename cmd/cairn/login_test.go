package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry/remote/credentials"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/registrytest"
)

// TestCLI_Login stores the credential in the docker-style config that oras
// and docker read, and reads one stored by them.
func TestCLI_Login(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	dockerDir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dockerDir)

	root := newRootCmd()
	var out bytes.Buffer
	root.SetIn(strings.NewReader("s3cret\n"))
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"login", srv.Host, "-u", "alice", "--password-stdin"})
	if err := root.Execute(); err != nil {
		t.Fatalf("login: %v: %s", err, out.String())
	}
	b, err := os.ReadFile(filepath.Join(dockerDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Auths[srv.Host].Auth; got != base64.StdEncoding.EncodeToString([]byte("alice:s3cret")) {
		t.Fatalf("stored auth %q in %s", got, b)
	}
	// The store cairn's clients read is the same one.
	store, err := credentials.NewStoreFromDocker(credentials.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := store.Get(t.Context(), srv.Host)
	if err != nil || cred.Username != "alice" || cred.Password != "s3cret" {
		t.Fatalf("credential read back: %+v %v", cred, err)
	}
	// --password-stdin without a user is a usage error.
	root = newRootCmd()
	root.SetIn(strings.NewReader("x"))
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"login", srv.Host, "--password-stdin"})
	if err := root.Execute(); err == nil {
		t.Fatal("login --password-stdin without -u succeeded")
	}
}

func TestCLI_Tag(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	src := t.TempDir()
	writeTree(t, src, map[string][]byte{"w.safetensors": random(1000)})
	code, out := runCLI(t, "push", src, srv.Host+"/models/m:v1", "--cache", t.TempDir())
	if code != 0 {
		t.Fatalf("push: %s", out)
	}
	d := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	if code, out := runCLI(t, "tag", srv.Host+"/models/m:v1", "prod"); code != 0 || !strings.Contains(out, d) {
		t.Fatalf("tag: exit %d: %s (want %s)", code, out, d)
	}
	got, err := srv.Meta.Resolve(t.Context(), "models/m", "prod")
	if err != nil || string(got) != d {
		t.Fatalf("prod -> %s %v, want %s", got, err, d)
	}
	if code, _ := runCLI(t, "tag", srv.Host+"/models/m:v1", "bad tag"); code == 0 {
		t.Fatal("tag accepted an invalid tag")
	}
}
