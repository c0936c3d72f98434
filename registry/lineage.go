package registry

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify/bundle"
	"cairn.dev/cairn/verify/lineage"
)

// dependencies returns what a provenance referrer says its subject was
// built from, reading its bundle layers from the blob store. Anything
// unreadable or not provenance gives nothing: the index is a hint, and
// readers verify the bundle before trusting an edge.
func (r *Registry) dependencies(ctx context.Context, m *storage.Manifest, body []byte) []lineage.Dependency {
	if m.Subject == "" || m.ArtifactType != bundle.MediaType {
		return nil
	}
	var raw struct {
		Layers []ocispec.Descriptor `json:"layers"`
	}
	if json.Unmarshal(body, &raw) != nil {
		return nil
	}
	var deps []lineage.Dependency
	read := 0
	for _, l := range raw.Layers {
		if l.MediaType != bundle.MediaType || l.Size > lineage.MaxBundleSize || read >= bundle.MaxLineage {
			continue
		}
		read++
		rc, err := r.blobs.Open(ctx, l.Digest)
		if err != nil {
			continue // missing: PutManifest refuses the manifest anyway
		}
		b, err := io.ReadAll(io.LimitReader(rc, lineage.MaxBundleSize))
		rc.Close()
		if err != nil {
			continue
		}
		d, err := lineage.FromBundle(b)
		if err != nil {
			continue
		}
		deps = append(deps, d...)
	}
	if len(deps) > lineage.MaxDependencies {
		deps = deps[:lineage.MaxDependencies]
	}
	return deps
}

// LineageEdge is one edge of GET /v2/<name>/_cairn/lineage?digest=D: an
// artifact and the provenance attestation that links it to D.
type LineageEdge struct {
	// Repository and Digest name the artifact at the other end: for
	// builtFrom, the dependency as the provenance wrote it (HOST/REPO); for
	// builtInto, a repository of this registry and the model built from D.
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	Role       string        `json:"role,omitempty"`
	// Attestation is the digest of the referrer manifest holding the
	// provenance, in AttestationRepository.
	Attestation           digest.Digest `json:"attestation"`
	AttestationRepository string        `json:"attestationRepository"`
	Pushed                time.Time     `json:"pushed"`
}

// Lineage is the answer of the lineage endpoint. Edges are read from
// provenance as pushed; clients verify the attestations they rely on.
type Lineage struct {
	Digest    digest.Digest `json:"digest"`
	BuiltFrom []LineageEdge `json:"builtFrom"`
	BuiltInto []LineageEdge `json:"builtInto"`
}

// lineage answers what the manifest ?digest= of repository name was built
// from (its provenance referrers' dependencies) and what was built from it
// (provenance anywhere in the registry naming it as a dependency).
func (r *Registry) lineage(w http.ResponseWriter, req *http.Request, name string) error {
	ctx := req.Context()
	d, err := ParseDigest(req.URL.Query().Get("digest"))
	if err != nil {
		return newError(http.StatusBadRequest, codeDigestInvalid, "lineage needs ?digest=: %v", err)
	}
	if _, err := r.meta.Manifest(ctx, name, d); err != nil {
		return err
	}
	ix, err := NewLineageIndex(ctx, r.meta)
	if err != nil {
		return err
	}
	out := ix.Lineage(name, d)
	writeJSON(w, "application/json", out)
	return nil
}
