package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory, or skips
// the test saying why it cannot.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk-full test: mounting a small tmpfs needs root (id -u is not 0)")
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("disk-full test: cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// postBlob pushes b monolithically and returns the status and the body.
func postBlob(t *testing.T, base, repo string, b []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(base+"/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), "application/octet-stream", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// stopServer stops cairn serve gracefully (the access log is flushed).
func stopServer(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("cairn serve did not stop within 30 s of SIGTERM")
	}
}

// TestDiskFull: on a 64 MiB tmpfs filled to the last byte, clients get
// 507 "storage is full" (not 500 UNKNOWN), acknowledged data still pulls
// intact, a DELETE works (the reserve gives the database room), offline gc
// runs at 100% full and frees the space, pushes work again, and scrub and
// log verify pass.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a tmpfs")
	}
	data := mountTmpfs(t, 64<<20)
	bin := buildCairn(t)
	addr, srv := startServer(t, bin, data)
	base := "http://" + addr
	if fi, err := os.Stat(filepath.Join(data, reserveFile)); err != nil || fi.Size() == 0 {
		t.Fatalf("no storage reserve in the data directory: %v", err)
	}

	// An acknowledged model, and a second version whose big layer is what
	// the DELETE will release.
	repo, err := remote.NewRepository(addr + "/models/full")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	push := func(tag string, layer []byte) ocispec.Descriptor {
		t.Helper()
		d := content.NewDescriptorFromBytes("application/octet-stream", layer)
		if err := repo.Push(t.Context(), d, bytes.NewReader(layer)); err != nil {
			t.Fatal(err)
		}
		m, err := oras.PackManifest(t.Context(), repo, oras.PackManifestVersion1_1, "application/vnd.example.model", oras.PackManifestOptions{Layers: []ocispec.Descriptor{d}})
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.Tag(t.Context(), m, tag); err != nil {
			t.Fatal(err)
		}
		return m
	}
	keep := make([]byte, 1<<20)
	rand.Read(keep)
	push("v1", keep)
	big := make([]byte, 8<<20)
	rand.Read(big)
	v2 := push("v2", big)

	// Two upload sessions: one abandoned, one that will write at 100%.
	startSession := func() string {
		t.Helper()
		resp, err := http.Post(base+"/v2/models/full/blobs/uploads/", "application/octet-stream", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("start upload: %s", resp.Status)
		}
		return resp.Header.Get("Location")
	}
	startSession()
	writing := startSession()

	// Fill the disk: ever smaller blobs until not even 4 KiB fits.
	var full string
	filled := 0
	for size := 4 << 20; size >= 4<<10; {
		b := make([]byte, size)
		rand.Read(b)
		code, body := postBlob(t, base, "models/filler", b)
		if code == http.StatusCreated {
			filled += size
			continue
		}
		if code != http.StatusInsufficientStorage || !strings.Contains(body, "storage is full") || !strings.Contains(body, `"DENIED"`) {
			t.Fatalf("push to a full disk: %d %s, want 507 DENIED storage is full", code, body)
		}
		full = body
		size /= 4
	}
	if full == "" {
		t.Fatal("the disk never filled")
	}
	t.Logf("filled %d MiB of blobs; the error: %s", filled>>20, full)

	// A chunk written at 100% full is refused as full, and its session is
	// removed at once (its partial bytes with it).
	chunk := make([]byte, 1<<20)
	req, _ := http.NewRequest(http.MethodPatch, base+writing, bytes.NewReader(chunk))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInsufficientStorage {
		t.Errorf("PATCH at 100%% full: %s, want 507", resp.Status)
	}
	if resp, err := http.Get(base + writing); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("the session that failed for a full disk: GET %s, want 404", resp.Status)
		}
	}

	// Acknowledged data pulls intact, and pulls (access-log appends) go on.
	for range 200 {
		got, err := content.FetchAll(t.Context(), repo, content.NewDescriptorFromBytes("application/octet-stream", keep))
		if err != nil || !bytes.Equal(got, keep) {
			t.Fatalf("pull of v1's layer at 100%% full: %v", err)
		}
		if _, _, err := oras.FetchBytes(t.Context(), repo, "v1", oras.DefaultFetchBytesOptions); err != nil {
			t.Fatalf("pull of v1 at 100%% full: %v", err)
		}
	}

	// DELETE works at 100% full.
	if err := repo.Delete(t.Context(), v2); err != nil {
		t.Fatalf("DELETE at 100%% full: %v", err)
	}
	stopServer(t, srv)

	// Offline gc at 100% full frees the filler and the deleted layer.
	code, out := runCLI(t, "gc", "--data", data, "--grace", "0s")
	if code != 0 || !strings.Contains(out, "removed") || !strings.Contains(out, "and 1 uploads") {
		t.Fatalf("gc at 100%% full: exit %d, want blobs and the abandoned upload removed\n%s", code, out)
	}
	t.Logf("gc: %s", out[strings.LastIndex(out, "removed"):])

	// Pushes work again; then scrub and log verify pass.
	addr2, srv2 := startServer(t, bin, data)
	repo.Reference.Registry = addr2
	if code, body := postBlob(t, "http://"+addr2, "models/full", big); code != http.StatusCreated {
		t.Fatalf("push after gc: %d %s", code, body)
	}
	stopServer(t, srv2)
	if code, out := runCLI(t, "scrub", "--data", data); code != 0 {
		t.Errorf("scrub: exit %d\n%s", code, out)
	}
	code, out = runCLI(t, "log", "verify", "--data", data)
	if code != 0 || !strings.Contains(out, "access log intact") || !strings.Contains(out, "records were dropped and never recorded") {
		t.Errorf("log verify: exit %d, want intact with the gap of dropped records\n%s", code, out)
	}
	t.Logf("log verify: %s", out)
	var st struct{ OK bool }
	if _, js := runCLI(t, "log", "verify", "--data", data, "--json"); json.Unmarshal([]byte(js[:strings.LastIndex(js, "}")+1]), &st) != nil || !st.OK {
		t.Errorf("log verify --json: %s", js)
	}
}
