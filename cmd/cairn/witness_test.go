package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/tlog"
	"cairn.dev/cairn/registry/tlog/witness"
)

// transparencyEnv is a registry whose log has a witness, a signing key and
// the files of a model, for the tests of transparency: required.
type transparencyEnv struct {
	data, logKey, witnessKey, witnessURL string
	origin, keys, cache                  string
	tiny                                 []byte
	host                                 string
	stop                                 func()
}

func newTransparencyEnv(t *testing.T) *transparencyEnv {
	t.Helper()
	t.Setenv(passwordEnv, "")
	tiny, err := os.ReadFile("../../testdata/model/tiny.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	e := &transparencyEnv{data: t.TempDir(), keys: t.TempDir(), cache: t.TempDir(), tiny: tiny, origin: "test.example/cairn"}
	e.logKey = filepath.Join(t.TempDir(), "log.key")
	lk, _, err := tlog.LoadOrCreateKey(e.logKey, e.origin)
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, e.keys, "release")
	wdir := t.TempDir()
	wk, _, err := witness.LoadOrCreateKey(filepath.Join(wdir, "witness.key"), "witness.test")
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.New(witness.Config{Dir: filepath.Join(wdir, "checkpoints"), Key: wk, Logs: []string{lk.VerifierKey()}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	e.witnessKey, e.witnessURL = wk.VerifierKey(), srv.URL
	return e
}

// serve (re)starts cairn serve over data at the address clients know.
func (e *transparencyEnv) serve(t *testing.T, data string) {
	t.Helper()
	if e.stop != nil {
		e.stop()
	}
	e.host, e.stop = serveAt(t, e.host, "--data", data, "--log-key", e.logKey, "--witness", e.witnessURL+"="+e.witnessKey)
}

// push pushes a signed model whose weights end with extra as models/m:tag.
func (e *transparencyEnv) push(t *testing.T, tag, extra string) {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string][]byte{"config.json": []byte(`{"model_type":"llama","v":"` + extra + `"}`), "weights/model.safetensors": e.tiny})
	ref := e.host + "/models/m:" + tag
	for _, args := range [][]string{{"push", dir, ref, "--cache", e.cache}, {"sign", ref, "--key", filepath.Join(e.keys, "release.key")}} {
		if code, out, errs := runCode(t, "", args...); code != 0 {
			t.Fatalf("cairn %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
	}
}

// policy writes a policy for models/* that requires the log and, with
// witnesses, a cosignature of the witness.
func (e *transparencyEnv) policy(t *testing.T, witnesses bool) string {
	t.Helper()
	p := fmt.Sprintf("version: 1\nrules:\n  - match: %q\n    signers:\n      - key: %s\n    transparency: required\n",
		e.host+"/models/*", filepath.Join(e.keys, "release.pub"))
	if witnesses {
		p += fmt.Sprintf("    witnesses:\n      threshold: 1\n      keys: [%q]\n", e.witnessKey)
	}
	f := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(f, []byte(p), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// pull pulls models/m:tag into a new directory with the policy and returns
// the exit code, the output and the directory.
func (e *transparencyEnv) pull(t *testing.T, policy, tag string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	code, out, errs := runCode(t, "", "pull", e.host+"/models/m:"+tag, dir, "--policy", policy, "--cache", e.cache)
	return code, out + errs, dir
}

// TestServe_WitnessFork is issue 14's witness acceptance: a registry with
// a witness serves cosigned checkpoints, and pulls under a policy that
// requires one witness pass. Restored from a backup and grown with other
// moves (a fork), it gets no cosignature: a client that saw the honest
// log refuses it, and so does a fresh client (empty configuration
// directory) whose policy requires the witness, while a fresh client that
// does not require witnesses cannot tell. The honest registry, back, is
// accepted by a fresh client again.
func TestServe_WitnessFork(t *testing.T) {
	e := newTransparencyEnv(t)
	t.Setenv("CAIRN_CONFIG_DIR", t.TempDir())
	e.serve(t, e.data)
	e.push(t, "v1", "one")
	withWitness, without := e.policy(t, true), e.policy(t, false)
	if code, out, _ := e.pull(t, withWitness, "v1"); code != exitOK || !strings.Contains(out, "witnesses") {
		t.Fatalf("pull from the honest registry: exit %d\n%s", code, out)
	}
	e.stop()
	backup := t.TempDir()
	if err := os.CopyFS(backup, os.DirFS(e.data)); err != nil {
		t.Fatal(err)
	}
	e.serve(t, e.data)
	e.push(t, "v1", "two")
	if code, out, _ := e.pull(t, withWitness, "v1"); code != exitOK {
		t.Fatalf("pull after a move: exit %d\n%s", code, out)
	}

	// The fork: the backup, grown past the honest tree with other moves.
	e.serve(t, backup)
	e.push(t, "v1", "evil")
	e.push(t, "v1", "evil2")
	code, out, _ := e.pull(t, without, "v1")
	t.Logf("client that saw the honest log: %s", out)
	if code != exitRefused || !strings.Contains(out, "fork") {
		t.Fatalf("the client that saw the honest log: exit %d, want 1 naming a fork\n%s", code, out)
	}
	t.Setenv("CAIRN_CONFIG_DIR", t.TempDir())
	code, out, _ = e.pull(t, withWitness, "v1")
	t.Logf("fresh client requiring a witness: %s", out)
	if code != exitRefused || !strings.Contains(out, "witness") {
		t.Fatalf("a fresh client requiring a witness: exit %d, want 1 naming the witness\n%s", code, out)
	}
	// cairn history --verify takes the same rule.
	t.Setenv("CAIRN_CONFIG_DIR", t.TempDir())
	if code, _, errs := runCode(t, "", "history", e.host+"/models/m:v1", "--verify", "--policy", withWitness); code != exitRefused || !strings.Contains(errs, "witness") {
		t.Fatalf("history --verify, a fresh client requiring a witness: exit %d, want 1 naming the witness\n%s", code, errs)
	}
	t.Setenv("CAIRN_CONFIG_DIR", t.TempDir())
	if code, out, _ := e.pull(t, without, "v1"); code != exitOK {
		t.Fatalf("a fresh client without witnesses (it cannot tell the fork): exit %d\n%s", code, out)
	}

	// The honest registry, back: a fresh client requiring the witness
	// accepts it.
	e.serve(t, e.data)
	t.Setenv("CAIRN_CONFIG_DIR", t.TempDir())
	if code, out, _ := e.pull(t, withWitness, "v1"); code != exitOK {
		t.Fatalf("a fresh client, the honest registry: exit %d\n%s", code, out)
	}
	t.Setenv("CAIRN_CONFIG_DIR", t.TempDir())
	if code, _, errs := runCode(t, "", "history", e.host+"/models/m:v1", "--verify", "--policy", withWitness); code != exitOK {
		t.Fatalf("history --verify, a fresh client, the honest registry: exit %d\n%s", code, errs)
	}
}

// TestPull_TransparencyRequired: with transparency: required, a pull
// refuses a registry whose history entry was edited in the database or
// whose tag points elsewhere than its latest move in the log; the pulled
// directory keeps the checkpoint and the inclusion proof, and an offline
// cairn verify DIR refuses it when either is altered.
func TestPull_TransparencyRequired(t *testing.T) {
	e := newTransparencyEnv(t)
	t.Setenv("CAIRN_CONFIG_DIR", t.TempDir())
	e.serve(t, e.data)
	e.push(t, "v0", "zero")
	e.push(t, "v1", "one")
	policy := e.policy(t, true)
	code, out, dir := e.pull(t, policy, "v1")
	if code != exitOK {
		t.Fatalf("pull: exit %d\n%s", code, out)
	}
	// By digest: the manifest's push is the leaf.
	man, err := os.ReadFile(filepath.Join(dir, ".cairn", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	byDigest := e.host + "/models/m@" + digest.FromBytes(man).String()
	if code, _, errs := runCode(t, "", "verify", byDigest, "--policy", policy, "--signatures-only"); code != exitOK || !strings.Contains(errs, "pushed: leaf") {
		t.Fatalf("verify by digest: exit %d\n%s", code, errs)
	}
	repoFlag := "--repository=" + e.host + "/models/m"
	if code, _, errs := runCode(t, "", "verify", dir, "--policy", policy, repoFlag); code != exitOK || !strings.Contains(errs, "ok   transparency") {
		t.Fatalf("offline verify: exit %d\n%s", code, errs)
	}
	for _, tc := range []struct {
		name, file string
		edit       func(string) string
		want       string
	}{
		{"proof hash", "inclusion.json", func(s string) string {
			i := strings.Index(s, `"proof": [`) + len(`"proof": [`) + 6
			return s[:i] + flip(s[i]) + s[i+1:]
		}, "not in the log"},
		{"entry", "inclusion.json", func(s string) string { return strings.Replace(s, `\"v1\"`, `\"v2\"`, 1) }, "not in the log"},
		{"checkpoint size", "checkpoint", func(s string) string { return strings.Replace(s, "\n", "\n1", 1) }, "signature"},
		{"cosignature", "checkpoint", func(s string) string {
			i := strings.LastIndex(s, "\u2014 witness.test ") + len("\u2014 witness.test ") + 20
			return s[:i] + flip(s[i]) + s[i+1:]
		}, "witness"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, ".cairn", tc.file)
			orig, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(f, orig, 0o644)
			edited := tc.edit(string(orig))
			if edited == string(orig) {
				t.Fatalf("the edit changed nothing in\n%s", orig)
			}
			os.WriteFile(f, []byte(edited), 0o644)
			code, _, errs := runCode(t, "", "verify", dir, "--policy", policy, repoFlag)
			if code != exitRefused || !strings.Contains(errs, "FAIL transparency") || !strings.Contains(errs, tc.want) {
				t.Fatalf("altered %s: exit %d, want 1 naming %q\n%s", tc.file, code, tc.want, errs)
			}
		})
	}

	// cairn run, as a process (it execs the workload when the model
	// passes): the honest model runs.
	bin := buildCairn(t)
	ok := exec.Command(bin, "run", "--policy", policy, "--ref", e.host+"/models/m:v1", "--dir", t.TempDir(), "--cache", e.cache, "--", "true")
	ok.Env = append(os.Environ(), "CAIRN_CONFIG_DIR="+os.Getenv("CAIRN_CONFIG_DIR"))
	if out, err := ok.CombinedOutput(); err != nil || !strings.Contains(string(out), "ok   transparency") {
		t.Fatalf("cairn run of the honest model: %v\n%s", err, out)
	}

	// The tag pointed elsewhere in the database, without a leaf.
	e.stop()
	v0 := retag(t, filepath.Join(e.data, "meta.db"), "models/m", "v1", "v0")
	e.serve(t, e.data)
	// Without transparency: required the retagged model passes: the
	// signature is valid, only the log knows the tag meant another digest.
	plain := filepath.Join(t.TempDir(), "plain.yaml")
	os.WriteFile(plain, fmt.Appendf(nil, "version: 1\nrules:\n  - match: %q\n    signers:\n      - key: %s\n", e.host+"/models/*", filepath.Join(e.keys, "release.pub")), 0o644)
	if code, out, _ := e.pull(t, plain, "v1"); code != exitOK {
		t.Fatalf("the retagged model without transparency: exit %d\n%s", code, out)
	}
	code, out, _ = e.pull(t, policy, "v1")
	t.Logf("retagged: %s", out)
	if code != exitRefused || !strings.Contains(out, "last move in the log is to") {
		t.Fatalf("a tag moved to %s in the database: exit %d, want 1\n%s", v0, code, out)
	}
	for _, args := range [][]string{{"verify", e.host + "/models/m:v1", "--policy", policy}, {"verify", e.host + "/models/m:v1", "--policy", policy, "--signatures-only"}} {
		if code, _, errs := runCode(t, "", args...); code != exitRefused || !strings.Contains(errs, "last move in the log is to") {
			t.Fatalf("cairn %s: exit %d, want 1\n%s", strings.Join(args, " "), code, errs)
		}
	}
	marker := filepath.Join(t.TempDir(), "ran")
	run := exec.Command(bin, "run", "--policy", policy, "--ref", e.host+"/models/m:v1", "--dir", t.TempDir(), "--cache", e.cache, "--", "touch", marker)
	run.Env = append(os.Environ(), "CAIRN_CONFIG_DIR="+os.Getenv("CAIRN_CONFIG_DIR"))
	rout, err := run.CombinedOutput()
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != exitRefused || !strings.Contains(string(rout), "last move in the log is to") {
		t.Fatalf("cairn run of the retagged model: %v, want exit 1\n%s", err, rout)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the workload ran")
	}
	e.stop()
	retag(t, filepath.Join(e.data, "meta.db"), "models/m", "v1", "") // back

	// A history entry edited in the database.
	editHistory(t, filepath.Join(e.data, "meta.db"), "models/m", func(mv *storage.TagMove) {
		mv.By = "someone else"
	})
	e.serve(t, e.data)
	code, out, _ = e.pull(t, policy, "v1")
	t.Logf("edited history: %s", out)
	if code != exitRefused || !strings.Contains(out, "not in the log") {
		t.Fatalf("an edited history entry: exit %d, want 1\n%s", code, out)
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// retag points tag of repo at what other points at (or back at what the
// history's last move of tag says, when other is empty) in a stopped
// server's database, without a leaf, as an attacker with the file would.
func retag(t *testing.T, path, repo, tag, other string) digest.Digest {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var d digest.Digest
	err = db.Update(func(tx *bolt.Tx) error {
		rb := tx.Bucket([]byte("repos")).Bucket([]byte(repo))
		tags := rb.Bucket([]byte("tags"))
		if other != "" {
			d = digest.Digest(tags.Get([]byte(other)))
		} else {
			_, v := rb.Bucket([]byte("history")).Cursor().Last()
			var mv storage.TagMove
			if err := jsonUnmarshal(v, &mv); err != nil {
				return err
			}
			d = mv.New
		}
		return tags.Put([]byte(tag), []byte(d))
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var jsonUnmarshal = json.Unmarshal

// cairn witness starts with a key it creates, prints its verifier key,
// answers the protocol's endpoint, and refuses to start without --data or
// --log.
func TestWitnessCmd(t *testing.T) {
	lk, _, err := tlog.LoadOrCreateKey(filepath.Join(t.TempDir(), "log.key"), "test.example/cairn")
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"witness", "--log", lk.VerifierKey()}, {"witness", "--data", t.TempDir()}, {"witness", "--data", t.TempDir(), "--log", "nope"}} {
		if code, _, errs := runCode(t, "", args...); code != exitError {
			t.Errorf("cairn %s: exit %d, want 2\n%s", strings.Join(args, " "), code, errs)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs([]string{"witness", "--data", data, "--addr", addr, "--log", lk.VerifierKey(), "--name", "witness.test", "--log-level", "error"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("cairn witness: %v", err)
		}
	}()
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err = http.Get("http://" + addr + "/add-checkpoint"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /add-checkpoint: %d, want 405", resp.StatusCode)
	}
	k, _, err := witness.LoadOrCreateKey(filepath.Join(data, witnessKeyFile), "unused")
	if err != nil {
		t.Fatal(err)
	}
	if want := "witness key: " + k.VerifierKey() + "\n"; out.String() != want || !strings.HasPrefix(k.VerifierKey(), "witness.test+") {
		t.Fatalf("printed %q, want %q", out.String(), want)
	}
}

func TestParseWitnesses(t *testing.T) {
	const key = "witness.test+6e1d6b2a+BHR2ZT3wy+3sL5VZmCDe/PBq3MPsDSImQZ7Y4y5gLqEN"
	ws, err := parseWitnesses([]string{"http://w.example:5050=" + key, "https://w2.example/prefix/=" + key})
	if err != nil || ws[0].URL != "http://w.example:5050/add-checkpoint" || ws[1].URL != "https://w2.example/prefix/add-checkpoint" || ws[0].Key != key {
		t.Fatalf("%+v, %v", ws, err)
	}
	for _, bad := range []string{"http://w.example", "w.example=" + key, "ftp://w.example=" + key, "http://=" + key} {
		if _, err := parseWitnesses([]string{bad}); err == nil {
			t.Errorf("--witness %q parsed", bad)
		}
	}
	// A key that is not a witness key is refused when serve starts.
	if _, err := tlog.New(tlog.Config{Store: nil, Key: nil, Witnesses: []tlog.Witness{{URL: "http://w", Key: "nope"}}}); err == nil || !strings.Contains(err.Error(), "witness") {
		t.Errorf("tlog.New with a bad witness key: %v", err)
	}
}
