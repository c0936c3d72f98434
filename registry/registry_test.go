package registry_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/registrytest"
	"cairn.dev/cairn/registry/storage"
)

// pushArtifact packs files into a manifest in a memory store and copies it
// to the server with oras-go, tagging it.
func pushArtifact(t *testing.T, srv *registrytest.Server, repo, tag string, files map[string][]byte, subject *ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	ctx := t.Context()
	mem := memory.New()
	var layers []ocispec.Descriptor
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		d := content.NewDescriptorFromBytes("application/octet-stream", files[n])
		d.Annotations = map[string]string{ocispec.AnnotationTitle: n}
		if err := mem.Push(ctx, d, bytes.NewReader(files[n])); err != nil {
			t.Fatal(err)
		}
		layers = append(layers, d)
	}
	desc, err := oras.PackManifest(ctx, mem, oras.PackManifestVersion1_1, "application/vnd.example.model", oras.PackManifestOptions{Layers: layers, Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	if err := mem.Tag(ctx, desc, tag); err != nil {
		t.Fatal(err)
	}
	if _, err := oras.Copy(ctx, mem, tag, srv.Repository(t, repo), tag, oras.DefaultCopyOptions); err != nil {
		t.Fatalf("push %s:%s: %v", repo, tag, err)
	}
	return desc
}

func TestHandler_PushPullRoundTrip(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	ctx := t.Context()
	files := map[string][]byte{"weights/model.bin": bytes.Repeat([]byte("w"), 3<<20), "config.json": []byte(`{"a":1}`)}
	desc := pushArtifact(t, srv, "models/llama", "v1", files, nil)

	dst := memory.New()
	got, err := oras.Copy(ctx, srv.Repository(t, "models/llama"), "v1", dst, "v1", oras.DefaultCopyOptions)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != desc.Digest {
		t.Fatalf("pulled %s, pushed %s", got.Digest, desc.Digest)
	}
	man, err := content.FetchAll(ctx, dst, got)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(man, &m); err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		b, err := content.FetchAll(ctx, dst, l)
		if err != nil {
			t.Fatal(err)
		}
		if want := files[l.Annotations[ocispec.AnnotationTitle]]; !bytes.Equal(b, want) {
			t.Errorf("%s: pulled bytes differ", l.Annotations[ocispec.AnnotationTitle])
		}
	}

	// A signature-like referrer shows up through the referrers API.
	sig := pushArtifact(t, srv, "models/llama", "sig", map[string][]byte{"sig": []byte("s")}, &desc)
	var refs []ocispec.Descriptor
	if err := srv.Repository(t, "models/llama").Referrers(ctx, desc, "", func(r []ocispec.Descriptor) error {
		refs = append(refs, r...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].Digest != sig.Digest || refs[0].ArtifactType != "application/vnd.example.model" {
		t.Fatalf("referrers = %+v, want the signature %s", refs, sig.Digest)
	}
}

func TestHandler_TagHistory(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	v1 := pushArtifact(t, srv, "models/m", "latest", map[string][]byte{"a": []byte("one")}, nil)
	v2 := pushArtifact(t, srv, "models/m", "latest", map[string][]byte{"a": []byte("two")}, nil)
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/v2/models/m/manifests/latest", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete tag: %s", resp.Status)
	}
	resp, err = http.Get(srv.URL + "/v2/models/m/_cairn/history?tag=latest")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var moves []storage.TagMove
	if err := json.NewDecoder(resp.Body).Decode(&moves); err != nil {
		t.Fatal(err)
	}
	want := [][2]digest.Digest{{"", v1.Digest}, {v1.Digest, v2.Digest}, {v2.Digest, ""}}
	if len(moves) != len(want) {
		t.Fatalf("history has %d moves, want %d: %+v", len(moves), len(want), moves)
	}
	for i, m := range moves {
		if m.Old != want[i][0] || m.New != want[i][1] || m.By != "anonymous" || m.Time.IsZero() {
			t.Errorf("move %d = %+v, want %s -> %s", i, m, want[i][0], want[i][1])
		}
	}
}

// snapshot records everything the registry keeps: every file under the
// data directory but the database (path, size, hash) and a dump of the
// metadata.
func snapshot(t *testing.T, srv *registrytest.Server) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	filepath.WalkDir(srv.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "meta.db" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(srv.Dir, p)
		fmt.Fprintf(&b, "file %s %d %x\n", rel, len(data), sha256.Sum256(data))
		return nil
	})
	repos, _ := srv.Meta.Repositories(ctx, "", 0)
	for _, r := range repos {
		tags, _ := srv.Meta.Tags(ctx, r, "", 0)
		hist, _ := srv.Meta.History(ctx, r, "")
		fmt.Fprintf(&b, "repo %s tags=%v history=%d\n", r, tags, len(hist))
	}
	srv.Meta.Manifests(ctx, func(m *storage.Manifest) error {
		fmt.Fprintf(&b, "manifest %s %s\n", m.Repository, m.Digest)
		return nil
	})
	srv.Meta.Uploads(ctx, func(s storage.UploadSession) error {
		fmt.Fprintf(&b, "upload %s %s\n", s.ID, s.Repository)
		return nil
	})
	return b.String()
}

type badRequest struct {
	name    string
	method  string
	path    string // after the server URL; {upload} is replaced by a fresh upload's path
	header  map[string]string
	body    []byte
	status  int
	code    string // OCI error code; empty when the answer has no JSON body (416)
	rawPath bool   // send path bytes as is (no client-side cleaning)
	// dropsUpload: the request ends its upload session ("keeps nothing"),
	// so the state must be as before the upload started.
	dropsUpload bool
}

func TestHandler_BadInputChangesNothing(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{Limits: registry.Limits{MaxBlobSize: 1 << 20, MaxManifestSize: 4 << 10}})
	good := pushArtifact(t, srv, "models/m", "v1", map[string][]byte{"a": []byte("content")}, nil)
	blob := []byte("some blob bytes")
	blobDigest := digest.FromBytes(blob)
	validManifest := func(layer digest.Digest) []byte {
		return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/octet-stream","digest":"%s","size":5}]}`,
			digest.FromString("{}"), layer)
	}
	ociManifest := map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}
	cases := []badRequest{
		{name: "wrong digest monolithic", method: "POST", path: "/v2/models/m/blobs/uploads/?digest=" + digest.FromString("other").String(), body: blob, status: 400, code: "DIGEST_INVALID"},
		{name: "wrong digest on PUT", method: "PUT", path: "{upload}?digest=" + digest.FromString("other").String(), body: blob, status: 400, code: "DIGEST_INVALID", dropsUpload: true},
		{name: "sha512 digest of other bytes", method: "POST", path: "/v2/models/m/blobs/uploads/?digest=" + digest.SHA512.FromString("x").String(), body: blob, status: 400, code: "DIGEST_INVALID"},
		{name: "unsupported algorithm", method: "POST", path: "/v2/models/m/blobs/uploads/?digest=sha384:" + strings.Repeat("a", 96), body: blob, status: 400, code: "DIGEST_INVALID"},
		{name: "malformed digest", method: "GET", path: "/v2/models/m/blobs/sha256:xyz", status: 400, code: "DIGEST_INVALID"},
		{name: "digest path trick", method: "GET", path: "/v2/models/m/blobs/sha256:..%2f..%2fmeta.db", status: 400, code: "DIGEST_INVALID"},
		{name: "oversize blob monolithic", method: "POST", path: "/v2/models/m/blobs/uploads/?digest=" + digest.FromBytes(make([]byte, 2<<20)).String(), body: make([]byte, 2<<20), status: 413, code: "SIZE_INVALID"},
		{name: "oversize chunk", method: "PATCH", path: "{upload}", body: make([]byte, 2<<20), status: 413, code: "SIZE_INVALID"},
		{name: "content-range out of order", method: "PATCH", path: "{upload}", header: map[string]string{"Content-Range": "20-24"}, body: []byte("abcde"), status: 416},
		{name: "content-range disagrees with length", method: "PATCH", path: "{upload}", header: map[string]string{"Content-Range": "10-19"}, body: []byte("abcde"), status: 400, code: "BLOB_UPLOAD_INVALID"},
		{name: "size mismatch on monolithic", method: "POST", path: "/v2/models/m/blobs/uploads/?digest=" + blobDigest.String(), header: map[string]string{"X-Short": "1"}, body: blob[:5], status: 400, code: "DIGEST_INVALID"},
		{name: "unknown upload", method: "PATCH", path: "/v2/models/m/blobs/uploads/0123456789abcdef0123456789abcdef", body: blob, status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "upload id path trick", method: "PATCH", path: "/v2/models/m/blobs/uploads/..%2f..%2fmeta.db", body: blob, status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "upload of another repository", method: "PATCH", path: "{upload:other/repo}", body: blob, status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "oversize manifest", method: "PUT", path: "/v2/models/m/manifests/big", header: ociManifest, body: bytes.Repeat([]byte(" "), 5<<10), status: 413, code: "SIZE_INVALID"},
		{name: "malformed manifest", method: "PUT", path: "/v2/models/m/manifests/bad", header: ociManifest, body: []byte(`{"schemaVersion":2,`), status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest schema 1", method: "PUT", path: "/v2/models/m/manifests/bad", header: map[string]string{"Content-Type": "application/vnd.docker.distribution.manifest.v1+json"}, body: []byte(`{"schemaVersion":1}`), status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest media type mismatch", method: "PUT", path: "/v2/models/m/manifests/bad", header: map[string]string{"Content-Type": ocispec.MediaTypeImageIndex}, body: validManifest(blobDigest), status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest with bad layer digest", method: "PUT", path: "/v2/models/m/manifests/bad", header: ociManifest, body: validManifest("sha256:nothex"), status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest references missing blob", method: "PUT", path: "/v2/models/m/manifests/bad", header: ociManifest, body: validManifest(digest.FromString("missing")), status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
		{name: "manifest blob in another repository only", method: "PUT", path: "/v2/other/repo/manifests/bad", header: ociManifest, body: validManifest(good.Digest), status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
		{name: "manifest digest mismatch", method: "PUT", path: "/v2/models/m/manifests/" + digest.FromString("x").String(), header: ociManifest, body: validManifest(blobDigest), status: 400, code: "DIGEST_INVALID"},
		{name: "invalid tag", method: "PUT", path: "/v2/models/m/manifests/-bad", header: ociManifest, body: validManifest(blobDigest), status: 400, code: "TAG_INVALID"},
		{name: "invalid tag parameter", method: "PUT", path: "/v2/models/m/manifests/" + digest.FromBytes(validManifest(blobDigest)).String() + "?tag=..", header: ociManifest, body: validManifest(blobDigest), status: 400, code: "TAG_INVALID"},
		{name: "name with dot-dot", method: "GET", path: "/v2/models/../m/manifests/v1", rawPath: true, status: 400, code: "NAME_INVALID"},
		{name: "name with encoded dot-dot", method: "GET", path: "/v2/models/%2e%2e/m/manifests/v1", status: 400, code: "NAME_INVALID"},
		{name: "absolute-looking name", method: "GET", path: "/v2//etc/passwd/manifests/v1", rawPath: true, status: 400, code: "NAME_INVALID"},
		{name: "upper-case name", method: "PUT", path: "/v2/Models/M/manifests/v1", header: ociManifest, body: validManifest(blobDigest), status: 400, code: "NAME_INVALID"},
		{name: "name too long", method: "GET", path: "/v2/" + strings.Repeat("a/", 130) + "a/tags/list", status: 400, code: "NAME_INVALID"},
		{name: "range beyond the blob", method: "GET", path: "/v2/models/m/blobs/" + digest.FromString("content").String(), header: map[string]string{"Range": "bytes=100000-200000"}, status: 416},
		{name: "unknown blob", method: "GET", path: "/v2/models/m/blobs/" + digest.FromString("nope").String(), status: 404, code: "BLOB_UNKNOWN"},
		{name: "unknown manifest", method: "GET", path: "/v2/models/m/manifests/nope", status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "delete unknown manifest", method: "DELETE", path: "/v2/models/m/manifests/" + digest.FromString("nope").String(), status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "bad page size", method: "GET", path: "/v2/models/m/tags/list?n=-1", status: 400, code: "UNSUPPORTED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			before := snapshot(t, srv)
			if strings.HasPrefix(path, "{upload") {
				repo := "models/m"
				if r, ok := strings.CutPrefix(strings.SplitN(path, "}", 2)[0], "{upload:"); ok {
					repo = r
				}
				loc := startUpload(t, srv, repo)
				// Every upload case first sends a good chunk, so a bad one
				// must leave those bytes exactly as they were.
				loc = patch(t, srv, loc, []byte("0123456789"))
				if repo != "models/m" {
					loc = strings.Replace(loc, "/v2/"+repo+"/", "/v2/models/m/", 1)
				}
				path = loc + strings.SplitN(path, "}", 2)[1]
				if !tc.dropsUpload {
					before = snapshot(t, srv)
				}
			}
			status, body := send(t, srv, tc, path)
			if status != tc.status {
				t.Fatalf("status %d, want %d; body %s", status, tc.status, body)
			}
			if tc.code != "" {
				var e struct {
					Errors []struct{ Code, Message string }
				}
				if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) == 0 {
					t.Fatalf("no OCI error body: %q", body)
				}
				if e.Errors[0].Code != tc.code {
					t.Fatalf("code %s (%s), want %s", e.Errors[0].Code, e.Errors[0].Message, tc.code)
				}
				if e.Errors[0].Message == "" {
					t.Fatal("error has no message")
				}
			}
			if after := snapshot(t, srv); after != before {
				t.Fatalf("state changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func startUpload(t *testing.T, srv *registrytest.Server, repo string) string {
	t.Helper()
	resp, err := http.Post(srv.URL+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %s", resp.Status)
	}
	return resp.Header.Get("Location")
}

func patch(t *testing.T, srv *registrytest.Server, loc string, b []byte) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPatch, srv.URL+loc, bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("patch: %s", resp.Status)
	}
	return resp.Header.Get("Location")
}

// send issues a bad request. X-Short declares a longer body than it sends
// and closes, as a client that dies mid-upload does.
func send(t *testing.T, srv *registrytest.Server, tc badRequest, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(tc.method, srv.URL+"/", bytes.NewReader(tc.body))
	if err != nil {
		t.Fatal(err)
	}
	if tc.rawPath {
		req.URL.Path = path
		req.URL.RawPath = path
		req.URL.Opaque = path
	} else {
		u, err := req.URL.Parse(path)
		if err != nil {
			t.Fatal(err)
		}
		req.URL = u
	}
	for k, v := range tc.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
