package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cliEnv runs the cairn binary with its own docker config (credential
// store) and cache.
type cliEnv struct {
	bin   string
	env   []string
	stdin string
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	return &cliEnv{bin: buildCairn(t), env: []string{
		"DOCKER_CONFIG=" + t.TempDir(), "CAIRN_CACHE=" + t.TempDir(), "CAIRN_CONFIG_DIR=" + t.TempDir(),
		passwordEnv + "=", "CAIRN_REGISTRY_USERNAME=", "CAIRN_REGISTRY_PASSWORD=",
	}}
}

func (c *cliEnv) run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdin = strings.NewReader(c.stdin)
	c.stdin = ""
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

func (c *cliEnv) must(t *testing.T, args ...string) string {
	t.Helper()
	code, out := c.run(t, args...)
	if code != 0 {
		t.Fatalf("cairn %s: exit %d:\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// wording checks one command's exit status and that its output says each
// of want and none of never.
func wording(t *testing.T, name string, code int, out string, wantCode int, want, never []string) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		if code != wantCode {
			t.Errorf("exit %d, want %d:\n%s", code, wantCode, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("output does not say %q:\n%s", w, out)
			}
		}
		for _, w := range never {
			if strings.Contains(out, w) {
				t.Errorf("output says %q:\n%s", w, out)
			}
		}
	})
}

// TestErrors_Registry pins what a person reads when the registry refuses:
// 401 says to log in (not the token URL), 403 names the action, the
// repository and the user (not a Go map), a missing tag lists the tags
// that exist and a missing repository says so, an https:// reference to a
// plain-HTTP registry suggests --plain-http, and a closed port asks
// whether the server runs.
func TestErrors_Registry(t *testing.T) {
	c := newCLIEnv(t)
	host, _ := serveBinary(t, c.bin, "127.0.0.1", "--auth")
	src := t.TempDir()
	writeTree(t, src, map[string][]byte{"config.json": []byte(`{"model_type":"errors"}`)})

	code, out := c.run(t, "push", src, host+"/models/m:v1")
	wording(t, "push without login", code, out, exitError,
		[]string{host + ": not logged in, or the credential was refused (401): run `cairn login " + host + "`", "CAIRN_REGISTRY_USERNAME"},
		[]string{"/token?", "credentials required"})

	c.stdin = "admin-password-for-the-test\n"
	c.must(t, "login", host, "-u", "admin", "--password-stdin")
	c.must(t, "push", src, host+"/models/m:v1")
	c.must(t, "push", src, host+"/models/m:v2")
	c.stdin = "bob-password-long-enough\n"
	c.must(t, "user", "add", "bob", "--password-stdin", "--registry", host)
	c.must(t, "access", "grant", "bob", "models/*", "read", "--registry", host)

	code, out = c.run(t, "pull", host+"/models/m:nope", filepath.Join(t.TempDir(), "d"))
	wording(t, "missing tag", code, out, exitError, []string{`tag "nope" not found in ` + host + "/models/m; its tags: v1, v2"}, nil)
	code, out = c.run(t, "pull", host+"/models/absent:v1", filepath.Join(t.TempDir(), "d"))
	wording(t, "missing repository", code, out, exitError, []string{"repository models/absent not found on " + host}, nil)

	c.stdin = "bob-password-long-enough\n"
	c.must(t, "login", host, "-u", "bob", "--password-stdin")
	code, out = c.run(t, "tag", host+"/models/m:v1", "v3")
	wording(t, "tag without push", code, out, exitError,
		[]string{"no push on models/m for bob at " + host + " (403)", "cairn access grant bob 'models/m' write"},
		[]string{"map[", "actions:"})

	// Credentials from the environment win over the store: bob's stored
	// login is not used, the administrator's is.
	c.env = append(c.env, "CAIRN_REGISTRY_USERNAME=admin", "CAIRN_REGISTRY_PASSWORD=admin-password-for-the-test")
	code, out = c.run(t, "tag", host+"/models/m:v1", "v3")
	wording(t, "environment credentials", code, out, exitOK, nil, nil)
	c.env = c.env[:len(c.env)-2]
	code, out = c.run(t, "logout", host)
	wording(t, "logout", code, out, exitOK, []string{"removed the credential of " + host}, nil)
	code, out = c.run(t, "pull", host+"/models/m:v1", filepath.Join(t.TempDir(), "d"))
	wording(t, "pull after logout", code, out, exitError, []string{"run `cairn login " + host + "`"}, nil)

	plain, _ := serveBinary(t, c.bin, "127.0.0.1")
	code, out = c.run(t, "pull", "https://"+plain+"/models/m:v1", filepath.Join(t.TempDir(), "d"))
	wording(t, "https:// to a plain registry", code, out, exitError,
		[]string{plain + " answers plain HTTP, not HTTPS: give --plain-http"}, []string{"invalid repository"})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	code, out = c.run(t, "pull", closed+"/models/m:v1", filepath.Join(t.TempDir(), "d"))
	wording(t, "nothing listening", code, out, exitError, []string{"nothing listens on " + closed + " (connection refused): is cairn serve running there?"}, nil)
}

// TestErrors_Verification pins the refusals of signatures: a wrong key is
// named, without sigstore-go's "threshold, Found: 0, Expected 1", with
// what to do; a directory pulled before signing says to pull it again.
func TestErrors_Verification(t *testing.T) {
	c := newCLIEnv(t)
	host, _ := serveBinary(t, c.bin, "127.0.0.1")
	keys := t.TempDir()
	key, other := writePair(t, keys, "release"), writePair(t, keys, "other")
	tiny, err := os.ReadFile("../../testdata/model/tiny.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	writeTree(t, src, map[string][]byte{"config.json": []byte(`{}`), "model.safetensors": tiny})
	ref := host + "/models/m:v1"
	c.must(t, "push", src, ref)
	early := filepath.Join(t.TempDir(), "early")
	c.must(t, "pull", ref, early)
	c.must(t, "sign", ref, "--key", key+".key")

	code, out := c.run(t, "verify", ref, "--key", other+".pub")
	wording(t, "wrong key", code, out, exitRefused,
		[]string{"not signed by key " + other + ".pub", "trust the key that signed it"},
		[]string{"threshold", "Found: 0"})
	code, out = c.run(t, "verify", early, "--key", key+".pub")
	wording(t, "directory pulled before signing", code, out, exitRefused,
		[]string{"no signature", early + " holds no signature: it was pulled before the model was signed", "pull it again (cairn pull REF " + early + ")"}, nil)
}
