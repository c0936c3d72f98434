package gate_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/gate"
	"cairn.dev/cairn/registry/registrytest"
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

// lateGate lets the test make the gate after the server (whose host the
// policy names).
type lateGate struct{ *gate.Gate }

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

	g := &lateGate{}
	srv := registrytest.NewServer(t, registry.Config{PullGate: g})
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
	g.Gate = gate.New(p, srv.Host, srv.Meta, srv.Blobs)

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
	// The gate guards content, not names: a tag resolves (HEAD) whatever
	// the policy says, so that cosign and cairn can sign through it; the
	// blobs of a refused version are refused unless an allowed version
	// shares them; signature referrers and their bundles are readable.
	// v3: unsigned, sharing v1's layer; a second layer makes it another
	// manifest even when pushed within v1's second.
	mem3 := memory.New()
	var v3Layers []ocispec.Descriptor
	for _, body := range []string{"signed", "v3's own"} {
		l := content.NewDescriptorFromBytes("application/octet-stream", []byte(body))
		mem3.Push(t.Context(), l, bytes.NewReader([]byte(body)))
		v3Layers = append(v3Layers, l)
	}
	shared, err := oras.PackManifest(t.Context(), mem3, oras.PackManifestVersion1_1, "application/vnd.example.model", oras.PackManifestOptions{Layers: v3Layers})
	if err != nil {
		t.Fatal(err)
	}
	mem3.Tag(t.Context(), shared, "v3")
	if _, err := oras.Copy(t.Context(), mem3, "v3", srv.Repository(t, "models/a"), "v3", oras.DefaultCopyOptions); err != nil {
		t.Fatal(err)
	}
	refs, err := srv.Meta.Referrers(t.Context(), "models/a", signed.Digest)
	if err != nil || len(refs) != 1 {
		t.Fatalf("referrers of v1: %v %v", refs, err)
	}
	sigManifest, err := srv.Meta.Manifest(t.Context(), "models/a", refs[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	var sig ocispec.Manifest
	json.Unmarshal(sigManifest.Content, &sig)
	layerOf := func(d ocispec.Descriptor) string {
		m, err := srv.Meta.Manifest(t.Context(), "models/a", d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		var man ocispec.Manifest
		json.Unmarshal(m.Content, &man)
		return man.Layers[0].Digest.String()
	}
	// A model disguised as a signature: a subject, the bundle artifact
	// type, but a layer that is no bundle.
	mem := memory.New()
	evil := []byte("weights of a model nobody signed")
	el := content.NewDescriptorFromBytes("application/octet-stream", evil)
	mem.Push(t.Context(), el, bytes.NewReader(evil))
	disguised, err := oras.PackManifest(t.Context(), mem, oras.PackManifestVersion1_1, attest.MediaTypeBundle, oras.PackManifestOptions{Subject: &signed, Layers: []ocispec.Descriptor{el}})
	if err != nil {
		t.Fatal(err)
	}
	if err := oras.CopyGraph(t.Context(), mem, srv.Repository(t, "models/a"), disguised, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, path string
		want               int
		why                string
	}{
		{"HEAD of an unsigned version by tag", http.MethodHead, "models/a/manifests/v2", http.StatusOK, ""},
		{"HEAD of a pinned version by tag", http.MethodHead, "pinned/a/manifests/v1", http.StatusOK, ""},
		{"the refused version's own blob", http.MethodGet, "models/a/blobs/" + layerOf(unsigned), http.StatusForbidden, "no signature"},
		{"HEAD of that blob", http.MethodHead, "models/a/blobs/" + layerOf(unsigned), http.StatusOK, ""},
		{"a blob an allowed version shares", http.MethodGet, "models/a/blobs/" + layerOf(shared), http.StatusOK, ""},
		{"the allowed version's blob", http.MethodGet, "models/a/blobs/" + layerOf(signed), http.StatusOK, ""},
		{"the refused version sharing it", http.MethodGet, "models/a/manifests/v3", http.StatusForbidden, "no signature"},
		{"referrers of a refused version", http.MethodGet, "models/a/referrers/" + unsigned.Digest.String(), http.StatusOK, ""},
		{"a signature's manifest", http.MethodGet, "models/a/manifests/" + refs[0].Digest.String(), http.StatusOK, ""},
		{"a signature's bundle", http.MethodGet, "models/a/blobs/" + sig.Layers[0].Digest.String(), http.StatusOK, ""},
		{"a model disguised as a signature", http.MethodGet, "models/a/manifests/" + disguised.Digest.String(), http.StatusForbidden, "no signature"},
		{"its blob", http.MethodGet, "models/a/blobs/" + el.Digest.String(), http.StatusForbidden, "no signature"},
		{"a blob of the rejected repository", http.MethodGet, "elsewhere/a/blobs/" + digest.FromString("elsewhere").String(), http.StatusForbidden, "not an approved repository"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+"/v2/"+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.why) {
				t.Errorf("%s %s: %d %s; want %d with %q", tc.method, tc.path, resp.StatusCode, b, tc.want, tc.why)
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
