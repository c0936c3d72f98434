package registry_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/registrytest"
)

const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// attachProvenance pushes, as a referrer of subject in repo, a bundle
// whose statement is SLSA provenance naming deps (NAME@DIGEST) as
// resolvedDependencies. The registry does not check signatures, so the
// envelope carries none.
func attachProvenance(t *testing.T, srv *registrytest.Server, repo string, subject ocispec.Descriptor, deps ...string) ocispec.Descriptor {
	t.Helper()
	var rds []map[string]any
	for _, d := range deps {
		rds = append(rds, map[string]any{"uri": "oci://" + d, "name": "input"})
	}
	st, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": repo, "digest": map[string]string{"sha256": subject.Digest.Encoded()}}},
		"predicateType": "https://slsa.dev/provenance/v1",
		"predicate": map[string]any{
			"buildDefinition": map[string]any{"buildType": "https://example.com/train", "externalParameters": map[string]any{"epochs": 3}, "resolvedDependencies": rds},
			"runDetails":      map[string]any{"builder": map[string]any{"id": "https://example.com/builder"}},
		},
	})
	b := fmt.Appendf(nil, `{"mediaType":%q,"dsseEnvelope":{"payload":%q,"payloadType":"application/vnd.in-toto+json","signatures":[]}}`,
		bundleType, base64.StdEncoding.EncodeToString(st))
	ctx := t.Context()
	mem := memory.New()
	layer := content.NewDescriptorFromBytes(bundleType, b)
	if err := mem.Push(ctx, layer, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	desc, err := oras.PackManifest(ctx, mem, oras.PackManifestVersion1_1, bundleType, oras.PackManifestOptions{Layers: []ocispec.Descriptor{layer}, Subject: &subject})
	if err != nil {
		t.Fatal(err)
	}
	if err := oras.CopyGraph(ctx, mem, srv.Repository(t, repo), desc, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatal(err)
	}
	return desc
}

func getLineage(t *testing.T, srv *registrytest.Server, repo, dgst string) (int, registry.Lineage, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + "/v2/" + repo + "/_cairn/lineage?digest=" + url.QueryEscape(dgst))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var l registry.Lineage
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
	}
	return resp.StatusCode, l, string(body)
}

func TestHandler_Lineage(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	host := srv.Host
	data := pushArtifact(t, srv, "datasets/chat", "v1", map[string][]byte{"train.jsonl": []byte("{}")}, nil)
	base := pushArtifact(t, srv, "models/base", "v1", map[string][]byte{"w.bin": []byte("base")}, nil)
	tuned := pushArtifact(t, srv, "models/tuned", "v1", map[string][]byte{"w.bin": []byte("tuned")}, nil)
	baseProv := attachProvenance(t, srv, "models/base", base, host+"/datasets/chat@"+data.Digest.String())
	tunedProv := attachProvenance(t, srv, "models/tuned", tuned,
		host+"/models/base:v1@"+base.Digest.String(), host+"/datasets/chat@"+data.Digest.String())
	// A signature (not provenance) adds no edge.
	attachProvenance(t, srv, "models/tuned", tuned)

	status, l, body := getLineage(t, srv, "models/base", base.Digest.String())
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	if len(l.BuiltFrom) != 1 || l.BuiltFrom[0].Repository != host+"/datasets/chat" || l.BuiltFrom[0].Digest != data.Digest || l.BuiltFrom[0].Attestation != baseProv.Digest {
		t.Errorf("base built from: %+v", l.BuiltFrom)
	}
	if len(l.BuiltInto) != 1 || l.BuiltInto[0].Repository != "models/tuned" || l.BuiltInto[0].Digest != tuned.Digest || l.BuiltInto[0].Attestation != tunedProv.Digest {
		t.Errorf("base built into: %+v", l.BuiltInto)
	}

	_, l, _ = getLineage(t, srv, "datasets/chat", data.Digest.String())
	if len(l.BuiltFrom) != 0 || len(l.BuiltInto) != 2 {
		t.Errorf("dataset: %+v", l)
	}
	_, l, _ = getLineage(t, srv, "models/tuned", tuned.Digest.String())
	if len(l.BuiltFrom) != 2 || len(l.BuiltInto) != 0 {
		t.Errorf("tuned: %+v", l)
	}

	for _, tc := range []struct {
		repo, digest string
		want         int
	}{
		{"models/base", "sha256:xyz", http.StatusBadRequest},
		{"models/base", "", http.StatusBadRequest},
		{"models/base", tuned.Digest.String(), http.StatusNotFound}, // not in this repository
		{"models/none", base.Digest.String(), http.StatusNotFound},
	} {
		if status, _, body := getLineage(t, srv, tc.repo, tc.digest); status != tc.want {
			t.Errorf("%s %q: status %d, want %d: %s", tc.repo, tc.digest, status, tc.want, body)
		}
	}
}
