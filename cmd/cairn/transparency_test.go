package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/tlog"
	"cairn.dev/cairn/registry/tlog/tlogcheck"
)

// TestServe_TransparencyLog is issue 14's acceptance 1 on the embedded
// store and acceptance 2 for the log of names: cairn serve keeps the log;
// an outside verifier (x/mod/sumdb only) rebuilds its root; cairn history
// --verify passes, then exits 1 naming a rollback when the data directory
// is restored from a backup, a fork when that backup grows past the tree
// the client saw, and an entry not in the log when a history entry is
// edited in the database.
func TestServe_TransparencyLog(t *testing.T) {
	t.Setenv("CAIRN_CONFIG_DIR", t.TempDir())
	dir := t.TempDir()
	host, stop := serveAt(t, "", "--data", dir, "--log-origin", "test.example/cairn")
	base := "http://" + host
	pushImage(t, base, "models/m", "v1", []byte("one"))
	pushImage(t, base, "models/m", "v1", []byte("two"))
	stop()
	backup := t.TempDir()
	if err := os.CopyFS(backup, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}

	host, stop = serveAt(t, host, "--data", dir)
	base = "http://" + host
	for _, s := range []string{"three", "four", "five"} {
		pushImage(t, base, "models/m", "v1", []byte(s))
	}
	vkey, err := os.ReadFile(filepath.Join(dir, logKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	k, err := tlog.ParseKey(string(vkey))
	if err != nil {
		t.Fatal(err)
	}
	res, err := tlogcheck.Check(t.Context(), nil, base+tlog.PathPrefix, k.VerifierKey())
	if err != nil {
		t.Fatalf("outside verifier: %v", err)
	}
	if res.Size != 10 || res.Origin != "test.example/cairn" { // 5 pushes, 5 tag moves
		t.Fatalf("outside verifier: %d entries of %s, want 10 of test.example/cairn", res.Size, res.Origin)
	}

	ref := host + "/models/m:v1"
	code, out, errOut := runCode(t, "", "history", ref, "--verify")
	if code != exitOK || strings.Count(out, "sha256:") != 9 || !strings.Contains(errOut, "pinned") {
		t.Fatalf("history --verify: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCode(t, "", "history", ref, "--verify")
	if code != exitOK || !strings.Contains(errOut, "consistent with size 10") {
		t.Fatalf("second history --verify: exit %d\n%s", code, errOut)
	}
	stop()

	// Rollback: the backup, served at the same address.
	host, stop = serveAt(t, host, "--data", backup)
	base = "http://" + host
	code, _, errOut = runCode(t, "", "history", ref, "--verify")
	t.Logf("rollback: %s", errOut)
	if code != exitRefused || !strings.Contains(errOut, "rollback") {
		t.Fatalf("restored backup: exit %d, want 1 naming a rollback\n%s", code, errOut)
	}
	// Fork: the backup grown past the client's tree with other moves.
	for _, s := range []string{"x", "y", "z", "w"} {
		pushImage(t, base, "models/m", "v1", []byte(s))
	}
	code, _, errOut = runCode(t, "", "history", ref, "--verify")
	t.Logf("fork: %s", errOut)
	if code != exitRefused || !strings.Contains(errOut, "fork") {
		t.Fatalf("grown backup: exit %d, want 1 naming a fork\n%s", code, errOut)
	}
	stop()

	// An edited history entry on the honest server.
	editHistory(t, filepath.Join(dir, "meta.db"), "models/m", func(mv *storage.TagMove) {
		mv.New = digest.FromString("evil")
	})
	host, stop = serveAt(t, host, "--data", dir)
	defer stop()
	code, _, errOut = runCode(t, "", "history", ref, "--verify")
	t.Logf("edited: %s", errOut)
	if code != exitRefused || !strings.Contains(errOut, "not in the log") {
		t.Fatalf("edited history: exit %d, want 1 naming an entry not in the log\n%s", code, errOut)
	}
	// Without --verify the edit goes unnoticed: that is what the log is for.
	if code, out, _ := runCode(t, "", "history", ref); code != exitOK || !strings.Contains(out, digest.FromString("evil").String()) {
		t.Fatalf("history without --verify: exit %d\n%s", code, out)
	}
}

// serveAt runs cairn serve in-process on addr (a free port when empty),
// so that a restarted or restored server keeps the address clients know
// it by, and returns the address and a stop function.
func serveAt(t *testing.T, addr string, args ...string) (string, func()) {
	t.Helper()
	if addr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		ln.Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"serve", "--addr", addr, "--log-level", "error", "--gc-interval", "0"}, args...))
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("cairn serve: %v\n%s", err, out.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatal("cairn serve did not stop")
		}
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return addr, stop
		}
		select {
		case err := <-done:
			t.Fatalf("cairn serve exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("cairn serve on %s did not answer: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// editHistory rewrites the last history entry of repo in a stopped
// server's database, as an attacker with the file would.
func editHistory(t *testing.T, path, repo string, edit func(*storage.TagMove)) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		hb := tx.Bucket([]byte("repos")).Bucket([]byte(repo)).Bucket([]byte("history"))
		k, v := hb.Cursor().Last()
		var mv storage.TagMove
		if err := json.Unmarshal(v, &mv); err != nil {
			return err
		}
		edit(&mv)
		b, _ := json.Marshal(mv)
		return hb.Put(append([]byte(nil), k...), b)
	})
	if err != nil {
		t.Fatal(err)
	}
}
