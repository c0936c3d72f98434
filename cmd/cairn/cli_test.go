package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/backend"
)

// runCLI runs the cairn command line in-process and returns its exit code
// and output.
func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	code := exitOK
	if err != nil {
		out.WriteString("error: " + err.Error())
		code = exitError
		if ee, ok := err.(*exitErr); ok {
			code = ee.code
		}
	}
	return code, out.String()
}

// serveData serves the registry over dir in-process and returns its URL and
// a stop function that releases the database.
func serveData(t *testing.T, dir string) (string, func()) {
	t.Helper()
	blobs, db, err := backend.OpenEmbedded(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.Config{Blobs: blobs, Meta: db})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			srv.Close()
			db.Close()
		}
	}
	t.Cleanup(stop)
	return srv.URL, stop
}

func put(t *testing.T, method, url, contentType string, body []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s", method, url, resp.Status)
	}
}

// pushImage pushes a config, one layer and a manifest tagged tag.
func pushImage(t *testing.T, base, repo, tag string, layer []byte) digest.Digest {
	t.Helper()
	cfg := []byte("{}")
	put(t, "POST", base+"/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(cfg).String(), "application/octet-stream", cfg)
	put(t, "POST", base+"/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(layer).String(), "application/octet-stream", layer)
	man := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` +
		digest.FromBytes(cfg).String() + `","size":2},"layers":[{"mediaType":"application/octet-stream","digest":"` + digest.FromBytes(layer).String() + `","size":` + strconv.Itoa(len(layer)) + `}]}`)
	put(t, "PUT", base+"/v2/"+repo+"/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json", man)
	return digest.FromBytes(man)
}

func TestCLI_History(t *testing.T) {
	dir := t.TempDir()
	base, _ := serveData(t, dir)
	d1 := pushImage(t, base, "models/m", "v1", []byte("one"))
	d2 := pushImage(t, base, "models/m", "v1", []byte("two"))
	host := strings.TrimPrefix(base, "http://")
	code, out := runCLI(t, "history", host+"/models/m:v1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], d1.String()) || !strings.Contains(lines[2], d1.String()+"  "+d2.String()) {
		t.Fatalf("history output:\n%s", out)
	}
	code, out = runCLI(t, "history", host+"/models/m:nope")
	if code != exitError || !strings.Contains(out, "404") {
		t.Fatalf("unknown tag: exit %d: %s", code, out)
	}
}

func TestCLI_ScrubAndGC(t *testing.T) {
	dir := t.TempDir()
	base, stop := serveData(t, dir)
	pushImage(t, base, "models/m", "v1", []byte("weights"))
	orphan := []byte("orphan")
	put(t, "POST", base+"/v2/models/m/blobs/uploads/?digest="+digest.FromBytes(orphan).String(), "application/octet-stream", orphan)

	// While the server holds the database, gc refuses and scrub checks
	// blobs only.
	if code, out := runCLI(t, "gc", "--data", dir); code != exitError || !strings.Contains(out, "in use by another process") {
		t.Fatalf("gc beside a running server: exit %d: %s", code, out)
	}
	if code, out := runCLI(t, "scrub", "--data", dir); code != 0 || !strings.Contains(out, "checking blobs only") {
		t.Fatalf("scrub beside a running server: exit %d: %s", code, out)
	}
	stop()

	if code, out := runCLI(t, "scrub", "--data", dir); code != 0 || !strings.Contains(out, "3 blobs") || !strings.Contains(out, "1 manifests: 0 problems") {
		t.Fatalf("scrub of a clean store: exit %d: %s", code, out)
	}
	if code, out := runCLI(t, "gc", "--data", dir, "--grace", "0s"); code != 0 || !strings.Contains(out, "removed "+digest.FromBytes(orphan).String()) || !strings.Contains(out, "removed 1 blobs") {
		t.Fatalf("gc: exit %d: %s", code, out)
	}

	// Corrupt the layer: scrub names it and exits 1.
	layer := digest.FromBytes([]byte("weights"))
	p := filepath.Join(dir, "blobs", "sha256", layer.Encoded())
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, []byte("WEIGHTS"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := runCLI(t, "scrub", "--data", dir)
	if code != exitRefused || !strings.Contains(out, "corrupt-blob "+layer.String()) {
		t.Fatalf("scrub of a corrupt store: exit %d: %s", code, out)
	}
}
