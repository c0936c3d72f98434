package registry_test

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/registrytest"
)

// setClock is a registry time source that tests set between requests.
type setClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *setClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *setClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// artifactSize is what the versions endpoint reports as a manifest's size:
// the manifest plus its config and layers.
func artifactSize(t *testing.T, srv *registrytest.Server, repo string, desc ocispec.Descriptor) int64 {
	t.Helper()
	b, err := content.FetchAll(t.Context(), srv.Repository(t, repo), desc)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	n := desc.Size + m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

// getVersions fetches the versions endpoint and returns its status and body.
func getVersions(t *testing.T, srv *registrytest.Server, repo string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(srv.URL + "/v2/" + repo + "/_cairn/versions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestHandler_Versions(t *testing.T) {
	const repo = "models/m"
	const sigType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	t0 := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	clk := &setClock{t: t0}
	srv := registrytest.NewServer(t, registry.Config{Now: clk.now})
	ctx := t.Context()
	r := srv.Repository(t, repo)

	// v1 is tagged v1 and latest; v2 takes latest; a signature of v2 is
	// pushed by digest, without a tag.
	v1 := pushArtifact(t, srv, repo, "v1", map[string][]byte{"weights.bin": []byte("one")}, nil)
	if err := r.Tag(ctx, v1, "latest"); err != nil {
		t.Fatal(err)
	}
	clk.set(t0.Add(time.Hour))
	v2 := pushArtifact(t, srv, repo, "v2", map[string][]byte{"weights.bin": []byte("two"), "extra.bin": []byte("three")}, nil)
	if err := r.Tag(ctx, v2, "latest"); err != nil {
		t.Fatal(err)
	}
	clk.set(t0.Add(2 * time.Hour))
	mem, layers := memoryWith(t, []byte("bundle"))
	sig, err := oras.PackManifest(ctx, mem, oras.PackManifestVersion1_1, sigType, oras.PackManifestOptions{Layers: layers, Subject: &v2})
	if err != nil {
		t.Fatal(err)
	}
	if err := oras.CopyGraph(ctx, mem, r, sig, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatal(err)
	}

	status, body := getVersions(t, srv, repo)
	if status != http.StatusOK {
		t.Fatalf("GET versions: %d %s", status, body)
	}
	var got []registry.Version
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	want := []registry.Version{
		{Digest: sig.Digest, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: sigType, Size: artifactSize(t, srv, repo, sig),
			Tags: []string{}, Pushed: t0.Add(2 * time.Hour), PushedBy: "anonymous", Subject: v2.Digest},
		{Digest: v2.Digest, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/vnd.example.model", Size: artifactSize(t, srv, repo, v2),
			Tags: []string{"latest", "v2"}, Pushed: t0.Add(time.Hour), PushedBy: "anonymous", Referrers: map[string]int{sigType: 1}},
		{Digest: v1.Digest, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/vnd.example.model", Size: artifactSize(t, srv, repo, v1),
			Tags: []string{"v1"}, Pushed: t0, PushedBy: "anonymous"},
	}
	if len(got) != len(want) {
		t.Fatalf("versions lists %d manifests, want %d:\n%s", len(got), len(want), body)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Digest != w.Digest || g.MediaType != w.MediaType || g.ArtifactType != w.ArtifactType || g.Size != w.Size ||
			!slices.Equal(g.Tags, w.Tags) || !g.Pushed.Equal(w.Pushed) || g.PushedBy != w.PushedBy || g.Subject != w.Subject ||
			!maps.Equal(g.Referrers, w.Referrers) {
			t.Errorf("version %d:\n got %+v\nwant %+v", i, g, w)
		}
	}

	// The wire form: tags is always a list, referrers and subject are left
	// out when empty.
	var raw []map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if tags, ok := raw[0]["tags"].([]any); !ok || len(tags) != 0 {
		t.Errorf("untagged version: tags = %#v, want []", raw[0]["tags"])
	}
	for _, k := range []string{"referrers", "subject"} {
		if _, ok := raw[2][k]; ok {
			t.Errorf("v1 has %q in %s", k, body)
		}
	}
	if raw[2]["pushed"] != "2025-03-04T10:00:00Z" {
		t.Errorf("pushed = %v, want RFC 3339", raw[2]["pushed"])
	}
}

func TestHandler_VersionsUnknownRepository(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	pushArtifact(t, srv, "models/known", "v1", map[string][]byte{"a": []byte("a")}, nil)
	for _, repo := range []string{"models/unknown", "models/know"} {
		status, body := getVersions(t, srv, repo)
		var env struct {
			Errors []struct{ Code string } `json:"errors"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("%s: decode %s: %v", repo, body, err)
		}
		if status != http.StatusNotFound || len(env.Errors) != 1 || env.Errors[0].Code != "NAME_UNKNOWN" {
			t.Errorf("%s: %d %s, want 404 NAME_UNKNOWN", repo, status, body)
		}
	}
}

// memoryWith returns a memory store holding blobs and their descriptors,
// ready to pack.
func memoryWith(t *testing.T, blobs ...[]byte) (*memory.Store, []ocispec.Descriptor) {
	t.Helper()
	mem := memory.New()
	var descs []ocispec.Descriptor
	for _, b := range blobs {
		d := content.NewDescriptorFromBytes("application/octet-stream", b)
		if err := mem.Push(t.Context(), d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		descs = append(descs, d)
	}
	return mem, descs
}
