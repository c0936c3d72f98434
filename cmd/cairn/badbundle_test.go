package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/registrytest"
	"cairn.dev/cairn/verify"
)

// attachRaw attaches layer bytes of layerType as a referrer of subject with
// artifactType, as anyone with push access could.
func attachRaw(t *testing.T, repo *remote.Repository, subject ocispec.Descriptor, artifactType, layerType string, data []byte) {
	t.Helper()
	ctx := t.Context()
	mem := memory.New()
	layer := content.NewDescriptorFromBytes(layerType, data)
	if err := mem.Push(ctx, layer, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	subj := ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	desc, err := oras.PackManifest(ctx, mem, oras.PackManifestVersion1_1, artifactType, oras.PackManifestOptions{Layers: []ocispec.Descriptor{layer}, Subject: &subj})
	if err != nil {
		t.Fatal(err)
	}
	if err := oras.CopyGraph(ctx, mem, repo, desc, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatal(err)
	}
}

// TestCLI_VerifyBadBundles attaches malformed, mistyped, huge and truncated
// signature referrers to models: cairn verify refuses each with exit 1 and
// a reason, and never panics; a good signature beside bad ones still
// verifies.
func TestCLI_VerifyBadBundles(t *testing.T) {
	t.Setenv(passwordEnv, "")
	srv := registrytest.NewServer(t, registry.Config{Limits: registry.Limits{MaxBlobSize: 64 << 20}})
	key := writePair(t, t.TempDir(), "k")
	repoName := srv.Host + "/models/m"
	repo, err := remote.NewRepository(repoName)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	signer, err := loadSigningKey(key+".key", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := attest.NewKeypair(signer)
	if err != nil {
		t.Fatal(err)
	}
	goodBundle := func(desc ocispec.Descriptor) []byte {
		b, err := attest.Sign(t.Context(), kp, desc, repoName, sign.BundleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// withPayload replaces the bundle's DSSE payload (its signature then no
	// longer matches, which is one more reason to refuse).
	withPayload := func(b []byte, payloadType string, payload []byte) []byte {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		env := m["dsseEnvelope"].(map[string]any)
		env["payload"] = base64.StdEncoding.EncodeToString(payload)
		env["payloadType"] = payloadType
		out, _ := json.Marshal(m)
		return out
	}

	for _, tc := range []struct {
		name   string
		attach func(desc ocispec.Descriptor)
		code   int
		want   string
	}{
		{"malformed bundle", func(d ocispec.Descriptor) {
			attachRaw(t, repo, d, attest.MediaTypeBundle, attest.MediaTypeBundle, []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":`))
		}, exitRefused, "malformed bundle"},
		{"not JSON at all", func(d ocispec.Descriptor) {
			attachRaw(t, repo, d, attest.MediaTypeBundle, attest.MediaTypeBundle, []byte("\x00\x01garbage"))
		}, exitRefused, "malformed bundle"},
		{"truncated envelope", func(d ocispec.Descriptor) {
			b := goodBundle(d)
			attachRaw(t, repo, d, attest.MediaTypeBundle, attest.MediaTypeBundle, b[:len(b)/2])
		}, exitRefused, "malformed bundle"},
		{"wrong layer media type", func(d ocispec.Descriptor) {
			attachRaw(t, repo, d, attest.MediaTypeBundle, "application/octet-stream", goodBundle(d))
		}, exitRefused, "no signature"},
		{"wrong bundle media type", func(d ocispec.Descriptor) {
			b := bytes.Replace(goodBundle(d), []byte("bundle.v0.3+json"), []byte("bundle.v9+json"), 1)
			attachRaw(t, repo, d, attest.MediaTypeBundle, attest.MediaTypeBundle, b)
		}, exitRefused, "malformed bundle"},
		{"huge bundle", func(d ocispec.Descriptor) {
			attachRaw(t, repo, d, attest.MediaTypeBundle, attest.MediaTypeBundle, append(goodBundle(d), bytes.Repeat([]byte(" "), verify.MaxBundleSize)...))
		}, exitRefused, "no signature"},
		{"payload not in-toto", func(d ocispec.Descriptor) {
			attachRaw(t, repo, d, attest.MediaTypeBundle, attest.MediaTypeBundle, withPayload(goodBundle(d), "text/plain", []byte("hello")))
		}, exitRefused, "bundle 1"},
		{"truncated statement", func(d ocispec.Descriptor) {
			st, _ := attest.Statement(d, repoName, attest.PredicateCosignSign, nil)
			attachRaw(t, repo, d, attest.MediaTypeBundle, attest.MediaTypeBundle, withPayload(goodBundle(d), attest.PayloadTypeInToto, st[:len(st)/2]))
		}, exitRefused, "bundle 1"},
		{"bad ones beside a good one", func(d ocispec.Descriptor) {
			attachRaw(t, repo, d, attest.MediaTypeBundle, attest.MediaTypeBundle, []byte(`{}`))
			attachRaw(t, repo, d, attest.MediaTypeBundle, attest.MediaTypeBundle, goodBundle(d))
		}, exitOK, "verified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tag := strings.ReplaceAll(tc.name, " ", "-")
			pushModel(t, repoName+":"+tag)
			desc, err := repo.Resolve(t.Context(), tag)
			if err != nil {
				t.Fatal(err)
			}
			tc.attach(desc)
			code, out := runCLI(t, "verify", repoName+":"+tag, "--key", key+".pub")
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d; output %q does not contain %q", code, tc.code, out, tc.want)
			}
			// inspect reads the same referrers and must not fail on them.
			if code, out := runCLI(t, "inspect", repoName+":"+tag); code != exitOK {
				t.Errorf("inspect: exit %d: %s", code, out)
			}
		})
	}
}
