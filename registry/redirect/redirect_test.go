package redirect_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/redirect"
	"cairn.dev/cairn/registry/s3"
)

// newServer runs the registry on the test bucket (and bbolt) behind the
// redirect handler.
func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	raw := os.Getenv("CAIRN_TEST_S3")
	if raw == "" {
		t.Skip("CAIRN_TEST_S3 is not set: no S3 server to redirect to (scripts/services.sh start-minio; scripts/test always does)")
	}
	cfg, err := s3.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	cfg.Prefix += "redirect-" + hex.EncodeToString(b) + "/"
	blobs, err := s3.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, err := registry.New(registry.Config{Blobs: blobs, Meta: db})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(redirect.New(reg, db, blobs, redirect.Options{}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRedirect(t *testing.T) {
	srv := newServer(t)
	ctx := t.Context()
	repo, err := remote.NewRepository(strings.TrimPrefix(srv.URL, "http://") + "/team/model")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	content := bytes.Repeat([]byte("weights "), 10000)
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(content), Size: int64(len(content))}
	if err := repo.Blobs().Push(ctx, desc, bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(c *http.Client, method, path string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, srv.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	blobPath := "/v2/team/model/blobs/" + desc.Digest.String()

	resp, _ := get(noFollow, http.MethodGet, blobPath)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.Contains(loc, "X-Amz-Signature=") {
		t.Fatalf("GET blob = %s, Location %q, want 307 to a presigned URL", resp.Status, loc)
	}
	if resp.Header.Get("Docker-Content-Digest") != desc.Digest.String() {
		t.Errorf("Docker-Content-Digest = %q", resp.Header.Get("Docker-Content-Digest"))
	}

	// Clients that follow get the bytes, ranges too.
	resp, body := get(http.DefaultClient, http.MethodGet, blobPath)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, content) {
		t.Errorf("GET blob, following = %s, %d bytes", resp.Status, len(body))
	}
	resp, body = get(http.DefaultClient, http.MethodGet, blobPath, "Range", "bytes=8-15")
	if resp.StatusCode != http.StatusPartialContent || string(body) != "weights " {
		t.Errorf("ranged GET, following = %s, %q", resp.Status, body)
	}
	rc, err := repo.Blobs().Fetch(ctx, desc)
	if err != nil {
		t.Fatalf("oras-go Fetch through the redirect: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, content) {
		t.Error("oras-go fetched other bytes")
	}

	// HEAD, other repositories, unknown blobs and other routes are the
	// registry's.
	if resp, _ := get(noFollow, http.MethodHead, blobPath); resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD blob = %s, want 200 from the registry", resp.Status)
	}
	if resp, _ := get(noFollow, http.MethodGet, "/v2/team/other/blobs/"+desc.Digest.String()); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET blob of another repository = %s, want 404", resp.Status)
	}
	if resp, _ := get(noFollow, http.MethodGet, "/v2/team/model/blobs/"+digest.FromString("none").String()); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET unknown blob = %s, want 404", resp.Status)
	}
	if resp, _ := get(noFollow, http.MethodGet, "/v2/team/model/blobs/sha256:bad"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET bad digest = %s, want 400", resp.Status)
	}
	if resp, _ := get(noFollow, http.MethodGet, "/v2/"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v2/ = %s", resp.Status)
	}
}
