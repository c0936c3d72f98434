package promote_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"cairn.dev/cairn/registry/promote"
	"cairn.dev/cairn/verify"
)

// tinyLayout is a valid layout: one manifest with a config and a layer,
// and a referrer of it.
func tinyLayout() []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	put := func(name string, b []byte) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(b)), Mode: 0o644})
		tw.Write(b)
	}
	blob := func(mt string, b []byte) ocispec.Descriptor {
		d := content.NewDescriptorFromBytes(mt, b)
		put("blobs/sha256/"+d.Digest.Encoded(), b)
		return d
	}
	put("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "blobs/", Mode: 0o755})
	cfg := blob("application/vnd.cairn.model.config.v1+json", []byte(`{"model_type":"tiny"}`))
	layer := blob("application/octet-stream", []byte("weights"))
	mb, _ := json.Marshal(ocispec.Manifest{Versioned: specsV2, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}})
	m := blob(ocispec.MediaTypeImageManifest, mb)
	rb, _ := json.Marshal(ocispec.Manifest{Versioned: specsV2, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/x-note", Config: ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{layer}, Subject: &m})
	blob(ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Data)
	r := blob(ocispec.MediaTypeImageManifest, rb)
	m.Annotations = map[string]string{promote.AnnotationSource: "reg.example/models/tiny:v1"}
	ib, _ := json.Marshal(ocispec.Index{Versioned: specsV2, Manifests: []ocispec.Descriptor{m, r}})
	put("index.json", ib)
	tw.Close()
	return buf.Bytes()
}

func TestReadLayout_Tiny(t *testing.T) {
	b := tinyLayout()
	l, err := promote.ReadLayout(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var refs []ocispec.Descriptor
	l.Referrers(t.Context(), l.Index.Manifests[0], "", func(p []ocispec.Descriptor) error { refs = append(refs, p...); return nil })
	if len(refs) != 1 || refs[0].Digest != l.Index.Manifests[1].Digest || refs[0].ArtifactType != "application/x-note" {
		t.Fatalf("referrers: %v", refs)
	}
}

// FuzzReadLayout: any bytes are read within the limits, and either
// refused as a failed check or accepted as a layout whose every manifest
// and blob reads back as its digest says.
func FuzzReadLayout(f *testing.F) {
	f.Add(tinyLayout())
	f.Add([]byte{})
	f.Add(tinyLayout()[:1024])
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := promote.ReadLayout(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, verify.ErrVerification) {
				t.Fatalf("refusal that is not a failed check: %v", err)
			}
			return
		}
		for _, m := range l.Index.Manifests {
			rc, err := l.Fetch(context.Background(), m)
			if err != nil {
				t.Fatalf("listed manifest %s: %v", m.Digest, err)
			}
			if _, err := content.ReadAll(rc, m); err != nil {
				t.Fatalf("listed manifest %s: %v", m.Digest, err)
			}
			rc.Close()
		}
	})
}

var specsV2 = specs.Versioned{SchemaVersion: 2}
