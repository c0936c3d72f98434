package registry_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/registrytest"
	"cairn.dev/cairn/registry/storage"
)

// clock is a settable time source for the registry.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestRegistry_GC(t *testing.T) {
	clk := &clock{t: time.Now()}
	srv := registrytest.NewServer(t, registry.Config{Now: clk.now, Limits: registry.Limits{UploadTTL: time.Hour}})
	ctx := t.Context()
	kept := pushArtifact(t, srv, "models/m", "v1", map[string][]byte{"keep": []byte("referenced")}, nil)
	_ = kept
	// A blob uploaded but never referenced, and an upload never finished.
	orphan := []byte("orphan bytes")
	resp, err := http.Post(srv.URL+"/v2/models/m/blobs/uploads/?digest="+digest.FromBytes(orphan).String(), "application/octet-stream", bytes.NewReader(orphan))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	startUpload(t, srv, "models/m")

	// Within the grace period nothing goes: a push may still be in flight.
	rep, err := srv.Registry.GC(ctx, registry.GCOptions{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.BlobsRemoved != 0 || rep.UploadsRemoved != 0 {
		t.Fatalf("gc within grace removed %+v", rep)
	}

	// Two hours later: the orphan blob and the expired upload go, the
	// referenced blobs stay. Files keep their real mtimes, so use a grace
	// that reaches past them.
	clk.t = clk.t.Add(2 * time.Hour)
	rep, err = srv.Registry.GC(ctx, registry.GCOptions{Grace: time.Hour + time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rep.UploadsRemoved != 1 {
		t.Errorf("uploads removed = %d, want 1", rep.UploadsRemoved)
	}
	if len(rep.Removed) != 1 || rep.Removed[0] != digest.FromBytes(orphan) {
		t.Errorf("removed %v, want only the orphan %s", rep.Removed, digest.FromBytes(orphan))
	}
	if _, err := srv.Blobs.Stat(ctx, digest.FromBytes(orphan)); !errors.Is(err, storage.ErrBlobUnknown) {
		t.Errorf("orphan still stored: %v", err)
	}
	if _, err := srv.Blobs.Stat(ctx, digest.FromBytes([]byte("referenced"))); err != nil {
		t.Errorf("referenced blob removed: %v", err)
	}
	// The registry still serves the model in full.
	scrub, err := registry.Scrub(ctx, srv.Blobs, srv.Meta)
	if err != nil || len(scrub.Problems) != 0 {
		t.Fatalf("scrub after gc: %v %v", err, scrub.Problems)
	}
}

func TestScrub_FindsCorruption(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	ctx := t.Context()
	pushArtifact(t, srv, "models/m", "v1", map[string][]byte{"w": []byte("weights")}, nil)
	rep, err := registry.Scrub(ctx, srv.Blobs, srv.Meta)
	if err != nil || len(rep.Problems) != 0 || rep.Manifests != 1 || rep.Blobs != 2 {
		t.Fatalf("clean store: %+v %v", rep, err)
	}
	// Flip the weights on disk, and remove the config.
	w := digest.FromBytes([]byte("weights"))
	p, _ := srv.Blobs.BlobPath(w)
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, []byte("WEIGHTS"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := digest.FromBytes([]byte("{}"))
	if err := srv.Blobs.Delete(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	rep, err = registry.Scrub(ctx, srv.Blobs, srv.Meta)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, pr := range rep.Problems {
		got[pr.Kind+" "+pr.Digest.String()] = true
	}
	for _, want := range []string{"corrupt-blob " + w.String(), "missing-blob " + cfg.String()} {
		if !got[want] {
			t.Errorf("scrub did not report %s; got %v", want, rep.Problems)
		}
	}
}

// TestHandler_SlowBody: a client that stops sending its body is cut off
// after BodyIdleTimeout instead of holding the connection.
func TestHandler_SlowBody(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{Limits: registry.Limits{BodyIdleTimeout: 300 * time.Millisecond}})
	loc := startUpload(t, srv, "models/m")
	conn, err := net.Dial("tcp", srv.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\n0123456789", loc, srv.Host)
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("stalled body accepted: %s", resp.Status)
		}
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("server kept the stalled connection open for 10s")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("stalled body cut off after %v", d)
	}
	// The 10 bytes of the failed request were not kept.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+loc, nil)
	st, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	st.Body.Close()
	if r := st.Header.Get("Range"); r != "0-0" || !strings.HasPrefix(st.Status, "204") {
		t.Fatalf("upload status after stalled PATCH: %s Range %q", st.Status, r)
	}
}

// TestRegistry_GCDryRunAgrees: a dry run reports exactly what the real run
// then removes, and removes nothing itself. The old dry run marked from
// manifests alone and asked BlobLive, which still saw the stale upload
// links the real run drops: it reported none of the orphans the real run
// removed.
func TestRegistry_GCDryRunAgrees(t *testing.T) {
	clk := &clock{t: time.Now()}
	srv := registrytest.NewServer(t, registry.Config{Now: clk.now, Limits: registry.Limits{UploadTTL: time.Hour}})
	ctx := t.Context()
	pushArtifact(t, srv, "models/m", "v1", map[string][]byte{"keep": []byte("referenced")}, nil)
	gone := pushArtifact(t, srv, "models/old", "v1", map[string][]byte{"w": []byte("old weights")}, nil)
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/v2/models/old/manifests/"+gone.Digest.String(), nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete manifest: %v %v", resp, err)
	}
	for _, b := range []string{"orphan one", "orphan two"} {
		resp, err := http.Post(srv.URL+"/v2/models/m/blobs/uploads/?digest="+digest.FromBytes([]byte(b)).String(), "application/octet-stream", strings.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	startUpload(t, srv, "models/m")
	clk.t = clk.t.Add(2 * time.Hour)
	opts := registry.GCOptions{Grace: time.Hour + time.Minute}

	stored := func() int {
		n := 0
		srv.Blobs.Walk(ctx, func(storage.BlobInfo) error { n++; return nil })
		return n
	}
	before := stored()
	opts.DryRun = true
	dry, err := srv.Registry.GC(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if stored() != before {
		t.Fatalf("the dry run removed blobs: %d stored, %d before", stored(), before)
	}
	opts.DryRun = false
	real, err := srv.Registry.GC(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if real.BlobsRemoved < 3 {
		t.Fatalf("real run removed %d blobs, want the 2 orphans and the deleted manifest's layer: %v", real.BlobsRemoved, real.Removed)
	}
	slices.Sort(dry.Removed)
	slices.Sort(real.Removed)
	if !slices.Equal(dry.Removed, real.Removed) || dry.BlobsRemoved != real.BlobsRemoved || dry.BytesFreed != real.BytesFreed || dry.UploadsRemoved != real.UploadsRemoved {
		t.Errorf("dry run %+v\nreal run %+v", dry, real)
	}
	if stored() != before-real.BlobsRemoved {
		t.Errorf("%d blobs stored after removing %d of %d", stored(), real.BlobsRemoved, before)
	}
}
