package gate_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/gate"
	"cairn.dev/cairn/registry/registrytest"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify"
)

func push(t *testing.T, srv *registrytest.Server, repo, tag, body string) ocispec.Descriptor {
	t.Helper()
	ctx := t.Context()
	mem := memory.New()
	layer := content.NewDescriptorFromBytes("application/octet-stream", []byte(body))
	if err := mem.Push(ctx, layer, bytes.NewReader([]byte(body))); err != nil {
		t.Fatal(err)
	}
	desc, err := oras.PackManifest(ctx, mem, oras.PackManifestVersion1_1, "application/vnd.example.model", oras.PackManifestOptions{Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := mem.Tag(ctx, desc, tag); err != nil {
		t.Fatal(err)
	}
	if _, err := oras.Copy(ctx, mem, tag, srv.Repository(t, repo), tag, oras.DefaultCopyOptions); err != nil {
		t.Fatal(err)
	}
	return desc
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestGate(t *testing.T) {
	key, err := attest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := attest.NewKeypair(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pub, _ := attest.MarshalPublicKey(key.Public())
	os.WriteFile(filepath.Join(dir, "release.pub"), pub, 0o644)

	var g *gate.Gate
	srv := registrytest.NewServer(t, registry.Config{PullGate: func(ctx context.Context, repo, ref string, m *storage.Manifest) error {
		return g.Check(ctx, repo, ref, m)
	}})
	policy := fmt.Sprintf(`version: 1
rules:
  - match: "%[1]s/pinned/*"
    signers:
      - key: release.pub
    pinDigest: true
  - match: "%[1]s/attested/*"
    signers:
      - key: release.pub
    attestations:
      - type: https://slsa.dev/provenance/v1
        builderId: https://ci.example/train
  - match: "%[1]s/models/*"
    signers:
      - key: release.pub
  - match: "**"
    reject: "not an approved repository"
`, srv.Host)
	p, err := verify.ParsePolicy([]byte(policy), "policy.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	g = gate.New(p, srv.Host, srv.Meta, srv.Blobs)

	signIt := func(repo string, d ocispec.Descriptor) {
		b, err := attest.Sign(t.Context(), kp, d, srv.Host+"/"+repo, sign.BundleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := attest.Attach(t.Context(), srv.Repository(t, repo), d, attest.PredicateCosignSign, b); err != nil {
			t.Fatal(err)
		}
	}
	attestIt := func(repo string, d ocispec.Descriptor, builder string) {
		pred, err := attest.Provenance(attest.BuildInfo{BuilderID: builder})
		if err != nil {
			t.Fatal(err)
		}
		b, err := attest.Attest(t.Context(), kp, d, srv.Host+"/"+repo, attest.PredicateSLSAProvenance, pred, sign.BundleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := attest.Attach(t.Context(), srv.Repository(t, repo), d, attest.PredicateSLSAProvenance, b); err != nil {
			t.Fatal(err)
		}
	}
	signed := push(t, srv, "models/a", "v1", "signed")
	signIt("models/a", signed)
	unsigned := push(t, srv, "models/a", "v2", "unsigned")
	pinned := push(t, srv, "pinned/a", "v1", "pinned")
	signIt("pinned/a", pinned)
	noAtt := push(t, srv, "attested/a", "v1", "no attestation")
	signIt("attested/a", noAtt)
	otherBuilder := push(t, srv, "attested/a", "v2", "other builder")
	signIt("attested/a", otherBuilder)
	attestIt("attested/a", otherBuilder, "https://ci.example/other")
	attested := push(t, srv, "attested/a", "v3", "attested")
	signIt("attested/a", attested)
	attestIt("attested/a", attested, "https://ci.example/train")
	push(t, srv, "elsewhere/a", "v1", "elsewhere")

	for _, tc := range []struct {
		name, path string
		want       int
		why        string
	}{
		{"signed, by tag", "models/a/manifests/v1", http.StatusOK, ""},
		{"signed, by digest", "models/a/manifests/" + signed.Digest.String(), http.StatusOK, ""},
		{"unsigned", "models/a/manifests/v2", http.StatusForbidden, "no signature"},
		{"pinned rule, by tag", "pinned/a/manifests/v1", http.StatusForbidden, "pinDigest"},
		{"pinned rule, by digest", "pinned/a/manifests/" + pinned.Digest.String(), http.StatusOK, ""},
		{"required attestation missing", "attested/a/manifests/v1", http.StatusForbidden, "no verified attestation"},
		{"attestation by another builder", "attested/a/manifests/v2", http.StatusForbidden, "builder"},
		{"attested", "attested/a/manifests/v3", http.StatusOK, ""},
		{"no rule but reject", "elsewhere/a/manifests/v1", http.StatusForbidden, "not an approved repository"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, srv.URL+"/v2/"+tc.path)
			if code != tc.want || !strings.Contains(body, tc.why) {
				t.Errorf("%d %s; want %d with %q", code, body, tc.want, tc.why)
			}
		})
	}
	// A signature attached later counts at once (the cache is keyed by
	// the referrers).
	signIt("models/a", unsigned)
	if code, body := get(t, srv.URL+"/v2/models/a/manifests/v2"); code != http.StatusOK {
		t.Errorf("after signing: %d %s", code, body)
	}
}
