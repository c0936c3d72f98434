package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"cairn.dev/cairn/registry/storage"
)

// serveInProcess runs cairn serve with args on a free loopback port and
// returns its host and a stop function that shuts it down as SIGTERM
// would and waits for it.
func serveInProcess(t *testing.T, args ...string) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
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
	for deadline := time.Now().Add(60 * time.Second); ; {
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

// runCode runs the command line in-process with stdin and returns the
// exit code main would (0, 1 refused, 2 error), stdout and stderr.
func runCode(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK, out.String(), errb.String()
	}
	errb.WriteString("error: " + err.Error())
	var ee *exitErr
	if errors.As(err, &ee) {
		return ee.code, out.String(), errb.String()
	}
	return exitError, out.String(), errb.String()
}

// call sends a request with Basic credentials and returns the status and
// the Docker-Content-Digest answered.
func call(t *testing.T, method, url, user, pass, contentType string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Docker-Content-Digest")
}

// logJSON runs cairn log with --json and decodes the records.
func logJSON(t *testing.T, args ...string) []storage.AccessRecord {
	t.Helper()
	code, out, errs := runCode(t, "", append([]string{"log", "--json", "--limit", "0"}, args...)...)
	if code != 0 {
		t.Fatalf("cairn log %q: exit %d: %s%s", args, code, out, errs)
	}
	var recs []storage.AccessRecord
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("cairn log --json: %v\n%s", err, out)
	}
	return recs
}

// editAccess changes the stored value of access record seq with bbolt,
// as someone with the file would, while nothing has it open.
func editAccess(t *testing.T, path string, seq uint64, edit func(b *bolt.Bucket, key, value []byte) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("access"))
		key := binary.BigEndian.AppendUint64(nil, seq)
		return edit(b, key, bytes.Clone(b.Get(key)))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, dst, src string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCLI_Log is issue 6's acceptance for the access log: a server with
// auth on records an allowed pull and a denied one; cairn log shows them,
// from the stopped server's directory and from the running server as an
// administrator; cairn log verify passes on the untouched log and exits 1
// after one record's bytes were changed in the database file, and after a
// record was removed from the middle.
func TestCLI_Log(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CAIRN_ADMIN_PASSWORD", testAdminPassword)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host, stop := serveInProcess(t, "--data", dir, "--auth")
	base := "http://" + host

	// The administrator pushes and pulls (Basic credentials on /v2/).
	cfg, layer := []byte("{}"), []byte("weights")
	for _, b := range [][]byte{cfg, layer} {
		if code, _ := call(t, "POST", base+"/v2/models/m/blobs/uploads/?digest="+digest.FromBytes(b).String(), "admin", testAdminPassword, "application/octet-stream", b); code != 201 {
			t.Fatalf("blob upload: %d", code)
		}
	}
	man := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` +
		digest.FromBytes(cfg).String() + `","size":2},"layers":[{"mediaType":"application/octet-stream","digest":"` + digest.FromBytes(layer).String() + `","size":7}]}`)
	if code, _ := call(t, "PUT", base+"/v2/models/m/manifests/v1", "admin", testAdminPassword, "application/vnd.oci.image.manifest.v1+json", man); code != 201 {
		t.Fatalf("manifest PUT: %d", code)
	}
	if code, d := call(t, "GET", base+"/v2/models/m/manifests/v1", "admin", testAdminPassword, "", nil); code != 200 || d != digest.FromBytes(man).String() {
		t.Fatalf("allowed pull: %d %s", code, d)
	}
	// bob has an account and no grant: his pull is denied.
	user, _ := json.Marshal(map[string]string{"name": "bob", "password": "bob-password-1"})
	if code, _ := call(t, "POST", base+"/_cairn/admin/users", "admin", testAdminPassword, "application/json", user); code != 201 {
		t.Fatalf("create bob: %d", code)
	}
	if code, _ := call(t, "GET", base+"/v2/models/m/manifests/v1", "bob", "bob-password-1", "", nil); code != 403 {
		t.Fatalf("bob's pull: %d, want 403", code)
	}

	// While the server runs, the directory is locked: cairn log says so.
	if code, out, errs := runCode(t, "", "log", "--data", dir); code != exitError || !strings.Contains(errs, "--registry") {
		t.Fatalf("cairn log --data beside the server: exit %d: %s%s", code, out, errs)
	}
	// The running server answers administrators only.
	if code, out, errs := runCode(t, "bob-password-1\n", "login", host, "-u", "bob", "--password-stdin"); code != 0 {
		t.Fatalf("login bob: %s%s", out, errs)
	}
	if code, out, errs := runCode(t, "", "log", "--registry", host); code != exitError || !strings.Contains(errs, "403") {
		t.Fatalf("cairn log as bob: exit %d: %s%s", code, out, errs)
	}
	if code, out, errs := runCode(t, testAdminPassword+"\n", "login", host, "-u", "admin", "--password-stdin"); code != 0 {
		t.Fatalf("login admin: %s%s", out, errs)
	}
	remote := logJSON(t, "--registry", host, "--principal", "bob")
	if len(remote) == 0 || remote[len(remote)-1].Action != storage.ActionLogin {
		t.Errorf("bob's records from the running server: %+v", remote)
	}
	if code, out, errs := runCode(t, "", "log", "verify", "--registry", host); code != 0 || !strings.Contains(out, "access log intact") {
		t.Fatalf("cairn log verify --registry: exit %d: %s%s", code, out, errs)
	}
	stop()

	// From the stopped server's directory: the allowed pull and the denied
	// one.
	pulls := logJSON(t, "--data", dir, "--action", "pull", "--repo", "models/m")
	if len(pulls) != 1 || pulls[0].Principal != "admin" || pulls[0].Result != storage.ResultOK || pulls[0].Digest.String() != digest.FromBytes(man).String() || pulls[0].Address != "127.0.0.1" {
		t.Fatalf("pulls: %+v", pulls)
	}
	denied := logJSON(t, "--data", dir, "--principal", "bob", "--action", "denied", "--repo", "models/m")
	if len(denied) != 1 || denied[0].Repository != "models/m" || denied[0].Status != 403 || denied[0].Result != storage.ResultDenied {
		t.Fatalf("bob's denials: %+v", denied)
	}
	// bob's attempt at the log itself is a denial too.
	if d := logJSON(t, "--data", dir, "--principal", "bob", "--action", "denied"); len(d) != 2 || !strings.Contains(d[0].Detail, "/_cairn/admin/log") {
		t.Errorf("bob's denials: %+v", d)
	}
	all := logJSON(t, "--data", dir)
	code, out, errs := runCode(t, "", "log", "--data", dir, "--limit", "5")
	if code != 0 || !strings.HasPrefix(out, "SEQ") || strings.Count(out, "\n") != 6 {
		t.Fatalf("cairn log table: exit %d:\n%s%s", code, out, errs)
	}
	t.Logf("cairn log --limit 5:\n%s", out)

	// verify passes on the untouched log and prints the head.
	code, out, errs = runCode(t, "", "log", "verify", "--data", dir)
	m := regexp.MustCompile(`head (\d+):([0-9a-f]{64})`).FindStringSubmatch(out)
	if code != 0 || !strings.Contains(out, "access log intact: "+strconv.Itoa(len(all))+" records") || m == nil {
		t.Fatalf("cairn log verify: exit %d: %s%s", code, out, errs)
	}
	if code, out, errs := runCode(t, "", "log", "verify", "--data", dir, "--head", m[1]+":"+m[2]); code != 0 || !strings.Contains(out, "exported earlier is in the chain") {
		t.Fatalf("verify --head: exit %d: %s%s", code, out, errs)
	}
	if code, out, errs := runCode(t, "", "log", "verify", "--data", dir, "--head", m[1]+":"+strings.Repeat("0", 64)); code != exitRefused {
		t.Fatalf("verify --head with another hash: exit %d: %s%s", code, out, errs)
	}

	path := filepath.Join(dir, "meta.db")
	pristine := filepath.Join(t.TempDir(), "meta.db")
	copyFile(t, pristine, path)
	target := pulls[0].Seq

	// One byte of the allowed pull's record changed in the file: "admin"
	// becomes "admix", the stored hash is kept.
	editAccess(t, path, target, func(b *bolt.Bucket, key, v []byte) error {
		i := bytes.Index(v[sha256.Size:], []byte("admin"))
		if i < 0 {
			t.Fatal("principal not found in the record")
		}
		v[sha256.Size+i+4] = 'x'
		return b.Put(key, v)
	})
	code, out, errs = runCode(t, "", "log", "verify", "--data", dir)
	if code != exitRefused || !strings.Contains(out, "record "+strconv.FormatUint(target, 10)+":") || !strings.Contains(out, "edited") {
		t.Fatalf("verify after editing record %d: exit %d: %s%s", target, code, out, errs)
	}
	t.Logf("after the edit: %s", out)

	// A record removed from the middle.
	copyFile(t, path, pristine)
	editAccess(t, path, target, func(b *bolt.Bucket, key, _ []byte) error { return b.Delete(key) })
	code, out, errs = runCode(t, "", "log", "verify", "--data", dir)
	if code != exitRefused || !strings.Contains(out, "record "+strconv.FormatUint(target, 10)+" is missing") {
		t.Fatalf("verify after removing record %d: exit %d: %s%s", target, code, out, errs)
	}
	t.Logf("after the removal: %s", out)

	// The untouched copy still verifies; a missing directory cannot be
	// read (exit 2).
	copyFile(t, path, pristine)
	if code, out, errs := runCode(t, "", "log", "verify", "--data", dir, "--json"); code != 0 || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("verify --json of the restored log: exit %d: %s%s", code, out, errs)
	}
	if code, _, errs := runCode(t, "", "log", "verify", "--data", filepath.Join(dir, "nope")); code != exitError || !strings.Contains(errs, "no registry database") {
		t.Fatalf("verify of a missing directory: exit %d: %s", code, errs)
	}
}

func TestRetentionFlag(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "0": 0, "36h": 36 * time.Hour, "0d": 0} {
		var r retentionFlag
		if err := r.Set(in); err != nil || time.Duration(r) != want {
			t.Errorf("Set(%q) = %v, %v, want %v", in, time.Duration(r), err, want)
		}
	}
	for _, bad := range []string{"", "d", "-1d", "-5h", "1.5d", "99999d", "ten"} {
		var r retentionFlag
		if err := r.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
	if s := retentionFlag(defaultLogRetention).String(); s != "365d" {
		t.Errorf("default prints as %q", s)
	}
}
