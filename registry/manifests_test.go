package registry_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry"
)

func TestParseManifest_Fixtures(t *testing.T) {
	cases := []struct {
		file         string
		mediaType    string
		artifactType string
		blobs        int
		children     int
		subject      digest.Digest
	}{
		// The foreign (non-distributable) layer is not expected in the
		// registry, so only config and one layer are required.
		{"docker-manifest.json", "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.container.image.v1+json", 2, 0, ""},
		{"docker-list.json", "application/vnd.docker.distribution.manifest.list.v2+json", "", 0, 1, ""},
		{"oci-artifact-subject.json", "application/vnd.oci.image.manifest.v1+json", "application/vnd.dev.sigstore.bundle.v0.3+json", 2, 0,
			"sha256:0000000000000000000000000000000000000000000000000000000000000003"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "testdata", "registry", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			// The Content-Type is optional when the manifest names its type.
			for _, ct := range []string{"", tc.mediaType} {
				m, err := registry.ParseManifest(ct, b)
				if err != nil {
					t.Fatalf("Content-Type %q: %v", ct, err)
				}
				if m.MediaType != tc.mediaType || m.ArtifactType != tc.artifactType || len(m.Blobs) != tc.blobs || len(m.Children) != tc.children || m.Subject != tc.subject {
					t.Errorf("Content-Type %q: got %+v", ct, m)
				}
				if slices.Contains(m.Blobs, "sha256:0000000000000000000000000000000000000000000000000000000000000001") {
					t.Error("non-distributable layer counted as a required blob")
				}
			}
		})
	}
}
