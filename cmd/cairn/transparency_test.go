package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
	// cairn scrub checks the log against the history.
	if code, out, _ := runCode(t, "", "scrub", "--data", dir); code != exitRefused || !strings.Contains(out, "is not its leaf") {
		t.Fatalf("scrub of the edited history: exit %d, want 1 and a log problem\n%s", code, out)
	}
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

// TestServe_TransparencyLogKill9 is issue 14's acceptance 3 on the
// embedded store (one node: bbolt is one process's): 50 concurrent tag
// moves, the server killed with SIGKILL while they run; after a restart
// every acknowledged move is a leaf, the tree extends every checkpoint
// published before the kill, and cairn scrub finds the log and the
// history in agreement.
func TestServe_TransparencyLogKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the cairn binary")
	}
	bin := buildCairn(t)
	dir := t.TempDir()
	killDuringMoves(t, bin, []string{dir}, nil, func() { wantScrubClean(t, bin, dir) })
}

// TestServe_TransparencyLogKill9Nodes is acceptance 3 with two nodes on
// PostgreSQL and one S3 bucket: the 50 moves go through both, both are
// killed with SIGKILL, and after a restart the log served by each holds
// every acknowledged move and extends every checkpoint either published;
// cairn scrub of the shared stores finds the log and the history in
// agreement.
func TestServe_TransparencyLogKill9Nodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the cairn binary")
	}
	bucket := os.Getenv("CAIRN_TEST_S3")
	if bucket == "" {
		t.Skip("CAIRN_TEST_S3 is not set: no S3 store to share between nodes (scripts/services.sh start)")
	}
	db := testDatabase(t)
	// A prefix of its own in the shared test bucket, so that scrub sees
	// this test's blobs only.
	base, query, _ := strings.Cut(bucket, "?")
	store := base + "/" + filepath.Base(t.TempDir()) + "?" + query
	bin := buildCairn(t)
	key := filepath.Join(t.TempDir(), "log.key")
	flags := []string{"--metadata", db, "--storage", store, "--log-key", key}
	killDuringMoves(t, bin, []string{t.TempDir(), t.TempDir()}, flags, func() {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, "scrub", "--data", t.TempDir(), "--metadata", db, "--storage", store)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), ": 0 problems") {
			t.Errorf("cairn scrub of the shared stores: %v, want exit 0 and 0 problems\n%s%s", err, stdout.String(), stderr.String())
		}
	})
}

// killDuringMoves starts a node per data directory (with flags), sends 50
// concurrent tag moves through them in turn while fetching checkpoints
// from each, kills every node with SIGKILL after 20 moves were
// acknowledged, restarts them and checks the log each serves; then, with
// the nodes killed again, calls scrub.
func killDuringMoves(t *testing.T, bin string, dirs, flags []string, scrub func()) {
	t.Helper()
	var (
		addrs []string
		cmds  []*exec.Cmd
	)
	start := func() {
		addrs, cmds = nil, nil
		for _, dir := range dirs {
			addr, cmd := startServerWith(t, bin, dir, flags...)
			addrs, cmds = append(addrs, addr), append(cmds, cmd)
		}
	}
	start()
	const repo, moves, killAfter = "crash/tlog", 50, 20
	cfg, layer := []byte("{}"), []byte("layer")
	for _, addr := range addrs {
		put(t, "POST", "http://"+addr+"/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(cfg).String(), "application/octet-stream", cfg)
		put(t, "POST", "http://"+addr+"/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(layer).String(), "application/octet-stream", layer)
	}

	type ack struct {
		tag  string
		dgst digest.Digest
	}
	var (
		mu          sync.Mutex
		acked       []ack
		checkpoints [][]byte
		wg          sync.WaitGroup
	)
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 20 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	for i := range moves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tag := fmt.Sprintf("t%d", i%5)
			man := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/octet-stream","digest":"%s","size":%d}],"annotations":{"n":"%d"}}`,
				digest.FromBytes(cfg), digest.FromBytes(layer), len(layer), i)
			req, _ := http.NewRequest(http.MethodPut, "http://"+addrs[i%len(addrs)]+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(man))
			req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			resp, err := hc.Do(req)
			if err != nil {
				return // the server was killed
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusCreated {
				mu.Lock()
				acked = append(acked, ack{tag, digest.FromBytes(man)})
				mu.Unlock()
			}
		}()
	}
	stop := make(chan struct{})
	var cpDone sync.WaitGroup
	for _, addr := range addrs {
		cpDone.Add(1)
		go func() {
			defer cpDone.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := hc.Get("http://" + addr + tlog.PathPrefix + "checkpoint")
				if err != nil {
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode == http.StatusOK {
					mu.Lock()
					checkpoints = append(checkpoints, b)
					mu.Unlock()
				}
			}
		}()
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= killAfter || time.Now().After(deadline) {
			break
		}
	}
	for _, cmd := range cmds {
		killServer(t, cmd)
	}
	close(stop)
	wg.Wait()
	cpDone.Wait()
	if len(acked) == 0 || len(checkpoints) == 0 {
		t.Fatalf("%d moves acknowledged and %d checkpoints fetched before the kill", len(acked), len(checkpoints))
	}
	t.Logf("%d of %d moves acknowledged through %d nodes before the kill, %d checkpoints fetched", len(acked), moves, len(addrs), len(checkpoints))

	start()
	keyFile := filepath.Join(dirs[0], logKeyFile)
	for i, f := range flags {
		if f == "--log-key" {
			keyFile = flags[i+1]
		}
	}
	skey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := tlog.ParseKey(string(skey))
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range addrs {
		url := "http://" + addr + tlog.PathPrefix
		res, err := tlogcheck.Check(t.Context(), nil, url, key.VerifierKey())
		if err != nil {
			t.Fatalf("outside verifier on %s after the restart: %v", addr, err)
		}
		pushed, moved := map[digest.Digest]bool{}, map[ack]bool{}
		for _, b := range res.Entries {
			var e storage.LogEntry
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatal(err)
			}
			switch e.Kind {
			case storage.EntryManifestPush:
				pushed[e.Digest] = true
			case storage.EntryTag:
				moved[ack{e.Tag, e.New}] = true
			}
		}
		for _, a := range acked {
			if !pushed[a.dgst] || !moved[a] {
				t.Errorf("%s: acknowledged move of %s to %s: push leaf %v, move leaf %v", addr, a.tag, a.dgst, pushed[a.dgst], moved[a])
			}
		}
		for i, cp := range checkpoints {
			state := t.TempDir()
			if err := os.WriteFile(filepath.Join(state, "checkpoint"), cp, 0o600); err != nil {
				t.Fatal(err)
			}
			c := &tlog.Client{URL: url, Key: key.VerifierKey(), State: state}
			if _, err := c.Update(t.Context()); err != nil {
				t.Fatalf("%s: checkpoint %d published before the kill: %v", addr, i, err)
			}
		}
	}
	for _, cmd := range cmds {
		killServer(t, cmd)
	}
	scrub()
}

// TestServe_TransparencyLogNodes is acceptance 1 on PostgreSQL with two
// nodes: tag moves through both land in one tree, which the outside
// verifier rebuilds from either node, and a history checked through one
// node is consistent with what the other served. A node with another log
// key refuses to start.
func TestServe_TransparencyLogNodes(t *testing.T) {
	t.Setenv("CAIRN_CONFIG_DIR", t.TempDir())
	db := testDatabase(t)
	keyFile := filepath.Join(t.TempDir(), "log.key")
	hostA, _ := serveAt(t, "", "--data", t.TempDir(), "--metadata", db, "--log-key", keyFile, "--log-origin", "test.example/nodes")
	hostB, _ := serveAt(t, "", "--data", t.TempDir(), "--metadata", db, "--log-key", keyFile)
	for i, host := range []string{hostA, hostB, hostA, hostB} {
		pushImage(t, "http://"+host, "models/m", "v1", fmt.Appendf(nil, "layer %d", i))
	}
	skey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := tlog.ParseKey(string(skey))
	if err != nil {
		t.Fatal(err)
	}
	var roots []string
	for _, host := range []string{hostA, hostB} {
		res, err := tlogcheck.Check(t.Context(), nil, "http://"+host+tlog.PathPrefix, key.VerifierKey())
		if err != nil {
			t.Fatalf("outside verifier on %s: %v", host, err)
		}
		if res.Size != 8 {
			t.Fatalf("%s: tree of %d, want 8 (4 pushes, 4 moves)", host, res.Size)
		}
		roots = append(roots, res.Root.String())
	}
	if roots[0] != roots[1] {
		t.Fatalf("the nodes serve different trees: %s, %s", roots[0], roots[1])
	}
	if code, out, errOut := runCode(t, "", "history", hostA+"/models/m:v1", "--verify", "--log-key", key.VerifierKey()); code != exitOK || strings.Count(out, "sha256:") != 7 {
		t.Fatalf("history --verify through A: exit %d\n%s%s", code, out, errOut)
	}

	// A move through one node is in the checkpoint the other serves within
	// a second: both sign the tree of the shared database when asked.
	for i, via := range []string{hostA, hostB, hostA} {
		other := hostB
		if via == hostB {
			other = hostA
		}
		pushImage(t, "http://"+via, "models/m", "v1", fmt.Appendf(nil, "later layer %d", i))
		want := int64(8 + 2*(i+1))
		var got int64
		for deadline := time.Now().Add(time.Second); got < want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("1 s after a move through %s, %s serves a tree of %d leaves, want %d", via, other, got, want)
			}
			resp, err := http.Get("http://" + other + tlog.PathPrefix + "checkpoint")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			cp, err := tlog.OpenCheckpoint(b, key.VerifierKey())
			if err != nil {
				t.Fatalf("checkpoint of %s: %v", other, err)
			}
			got = cp.N
		}
	}
	res, err := tlogcheck.Check(t.Context(), nil, "http://"+hostB+tlog.PathPrefix, key.VerifierKey())
	if err != nil || res.Size != 14 {
		t.Fatalf("outside verifier on B after moves through both: %v, size %d, want 14", err, res.Size)
	}
	// The nodes share one access log, and one transparency log of it,
	// which the outside verifier rebuilds too (auth is off here, so no
	// login is needed for it).
	acc, err := tlogcheck.Check(t.Context(), nil, "http://"+hostB+tlog.AccessPathPrefix, key.VerifierKey())
	if err != nil || acc.Origin != "test.example/nodes/access" || acc.Size == 0 {
		t.Fatalf("outside verifier on B's access log: %v, %+v", err, acc)
	}
	for _, host := range []string{hostA, hostB} {
		if code, out, errOut := runCode(t, "", "log", "verify", "--registry", host, "--log-key", key.VerifierKey()); code != exitOK || !strings.Contains(out, "records match their leaves") {
			t.Fatalf("log verify through %s: exit %d\n%s%s", host, code, out, errOut)
		}
	}

	// Another key on the same database: refused.
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--metadata", db, "--log-key", filepath.Join(t.TempDir(), "other.key"), "--gc-interval", "0"})
	if err := root.ExecuteContext(t.Context()); err == nil || !strings.Contains(err.Error(), "same --log-key") {
		t.Fatalf("a node with another log key: %v, want a refusal", err)
	}
}

// With auth on, checkpoints and hash tiles are public and entry bundles
// need a login: cairn history --verify logs in with the stored
// credentials when challenged.
func TestServe_TransparencyLogAuth(t *testing.T) {
	t.Setenv("CAIRN_CONFIG_DIR", t.TempDir())
	t.Setenv("CAIRN_ADMIN_PASSWORD", testAdminPassword)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host, _ := serveAt(t, "", "--data", t.TempDir(), "--auth")
	base := "http://" + host
	cfg := []byte("{}")
	if code, _ := call(t, "POST", base+"/v2/models/m/blobs/uploads/?digest="+digest.FromBytes(cfg).String(), "admin", testAdminPassword, "application/octet-stream", cfg); code != 201 {
		t.Fatalf("blob upload: %d", code)
	}
	man := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` +
		digest.FromBytes(cfg).String() + `","size":2},"layers":[]}`)
	if code, _ := call(t, "PUT", base+"/v2/models/m/manifests/v1", "admin", testAdminPassword, "application/vnd.oci.image.manifest.v1+json", man); code != 201 {
		t.Fatalf("manifest PUT: %d", code)
	}
	for path, want := range map[string]int{"checkpoint": 200, "verifier": 200, "tile/0/000.p/2": 200, "tile/entries/000.p/2": 401} {
		if code, _ := call(t, "GET", base+tlog.PathPrefix+path, "", "", "", nil); code != want {
			t.Errorf("anonymous GET %s: %d, want %d", path, code, want)
		}
	}
	if code, _, _ := runCode(t, "", "history", host+"/models/m:v1", "--verify"); code != exitError {
		t.Fatalf("history --verify without a login: exit %d, want 2", code)
	}
	if code, out, errs := runCode(t, testAdminPassword+"\n", "login", host, "-u", "admin", "--password-stdin"); code != 0 {
		t.Fatalf("login: %s%s", out, errs)
	}
	if code, out, errs := runCode(t, "", "history", host+"/models/m:v1", "--verify"); code != exitOK || !strings.Contains(errs, "verified 1 entries") {
		t.Fatalf("history --verify after login: exit %d\n%s%s", code, out, errs)
	}
}
