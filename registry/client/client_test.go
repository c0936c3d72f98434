package client_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/registrytest"
)

func newRemote(t *testing.T, srv *registrytest.Server, repo string) *client.Remote {
	return &client.Remote{Client: http.DefaultClient, Base: srv.URL, Repository: repo}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func bytesSource(key string, b []byte) client.Source {
	return client.Source{Key: key, Size: int64(len(b)), Open: func(off int64) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b[off:])), nil
	}}
}

func TestUploadFetch_RoundTrip(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	r := newRemote(t, srv, "models/m")
	cache, err := client.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(t, 3<<20+17)
	var sent int64
	desc, err := cache.Upload(t.Context(), r, bytesSource("k", data), 1<<20, func(n int64) { sent += n })
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != digest.FromBytes(data) || desc.Size != int64(len(data)) || sent != int64(len(data)) {
		t.Fatalf("upload = %+v (sent %d)", desc, sent)
	}
	if ok, err := r.Exists(t.Context(), desc.Digest); err != nil || !ok {
		t.Fatalf("Exists after upload: %v %v", ok, err)
	}
	// Fetch into a fresh cache, then a second Fetch is a cache hit.
	cache2, _ := client.OpenCache(t.TempDir())
	p, fetched, err := cache2.Fetch(t.Context(), r, desc, "w.bin", nil)
	if err != nil || !fetched {
		t.Fatalf("fetch: %v fetched=%v", err, fetched)
	}
	got, _ := os.ReadFile(p)
	if !bytes.Equal(got, data) {
		t.Fatal("fetched bytes differ")
	}
	if _, fetched, err := cache2.Fetch(t.Context(), r, desc, "w.bin", nil); err != nil || fetched {
		t.Fatalf("second fetch: %v fetched=%v", err, fetched)
	}
	dst := filepath.Join(t.TempDir(), "w.bin")
	if err := cache2.Place(desc.Digest, dst, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Fatal("placed bytes differ")
	}
	// An executable gets its own copy with execute bits.
	exe := filepath.Join(t.TempDir(), "run.sh")
	if err := cache2.Place(desc.Digest, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(exe); err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Fatalf("executable placed without execute bits: %v %v", fi.Mode(), err)
	}
	if fi, _ := os.Stat(cache2.Path(desc.Digest)); fi.Mode().Perm()&0o111 != 0 {
		t.Fatal("placing an executable changed the cached blob's mode")
	}
}

// failingSource fails after limit bytes of the first attempt, as a killed
// push would stop.
func TestUpload_Resumes(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	r := newRemote(t, srv, "models/m")
	cache, _ := client.OpenCache(t.TempDir())
	data := randomBytes(t, 5<<20)
	var opened []int64
	fail := true
	src := client.Source{Key: "big", Size: int64(len(data)), Open: func(off int64) (io.ReadCloser, error) {
		opened = append(opened, off)
		if fail && off >= 2<<20 {
			return nil, errors.New("interrupted")
		}
		return io.NopCloser(bytes.NewReader(data[off:])), nil
	}}
	if _, err := cache.Upload(t.Context(), r, src, 1<<20, nil); err == nil {
		t.Fatal("first attempt should fail")
	}
	fail = false
	opened = nil
	desc, err := cache.Upload(t.Context(), r, src, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != digest.FromBytes(data) {
		t.Fatalf("digest %s", desc.Digest)
	}
	if len(opened) == 0 || opened[0] != 2<<20 {
		t.Fatalf("resumed at %v, want first chunk at %d", opened, 2<<20)
	}
}

func TestFetch_DigestMismatchKeepsNothing(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	r := newRemote(t, srv, "models/m")
	cache, _ := client.OpenCache(t.TempDir())
	data := randomBytes(t, 1<<20)
	desc, err := cache.Upload(t.Context(), r, bytesSource("", data), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Corrupt the blob on the server's disk.
	p, _ := srv.Blobs.BlobPath(desc.Digest)
	os.Chmod(p, 0o644)
	bad := bytes.Clone(data)
	bad[100] ^= 1
	os.WriteFile(p, bad, 0o644)

	fresh, _ := client.OpenCache(t.TempDir())
	_, _, err = fresh.Fetch(t.Context(), r, ocispec.Descriptor{Digest: desc.Digest, Size: desc.Size}, "weights/w.bin", nil)
	var de *client.DigestError
	if !errors.As(err, &de) || de.Path != "weights/w.bin" || de.Want != desc.Digest || de.Got != digest.FromBytes(bad) {
		t.Fatalf("err = %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(fresh.Root(), "ingest"))
	blobs, _ := os.ReadDir(filepath.Join(fresh.Root(), "blobs", "sha256"))
	if len(entries)+len(blobs) != 0 {
		t.Fatalf("cache kept %d ingest and %d blob files", len(entries), len(blobs))
	}
}

// A download cut off half way resumes from the bytes it has.
func TestFetch_Resumes(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	data := randomBytes(t, 4<<20)
	cache, _ := client.OpenCache(t.TempDir())
	desc, err := cache.Upload(t.Context(), newRemote(t, srv, "models/m"), bytesSource("", data), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	cut := &cutTransport{limit: 1 << 20, served: &served}
	r := &client.Remote{Client: &http.Client{Transport: cut}, Base: srv.URL, Repository: "models/m"}
	fresh, _ := client.OpenCache(t.TempDir())
	if _, _, err := fresh.Fetch(t.Context(), r, desc, "w", nil); err == nil {
		t.Fatal("cut download should fail")
	}
	cut.limit = 0
	served.Store(0)
	p, _, err := fresh.Fetch(t.Context(), r, desc, "w", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
		t.Fatal("resumed bytes differ")
	}
	if n := served.Load(); n > int64(len(data))-(1<<20)+(1<<20)/2 {
		t.Fatalf("second attempt transferred %d bytes, more than what was missing", n)
	}
}

// cutTransport ends response bodies after limit bytes (0: no limit) and
// counts the bytes it passes.
type cutTransport struct {
	limit  int64
	served *atomic.Int64
}

func (c *cutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &countBody{ReadCloser: resp.Body, limit: c.limit, served: c.served}
	return resp, nil
}

type countBody struct {
	io.ReadCloser
	limit  int64
	n      int64
	served *atomic.Int64
}

func (b *countBody) Read(p []byte) (int, error) {
	if b.limit > 0 && b.n >= b.limit {
		return 0, errors.New("connection cut")
	}
	if b.limit > 0 && int64(len(p)) > b.limit-b.n {
		p = p[:b.limit-b.n]
	}
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	b.served.Add(int64(n))
	return n, err
}
