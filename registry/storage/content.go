package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
)

// ContentSource is one repository of the registry's own stores seen as
// oras-go content: a content.Fetcher (manifests from the metadata store,
// blobs linked to the repository from the blob store) and a
// registry.ReferrerLister. It lets code written for a remote repository
// (attest.CollectBundles: the one bundle collection of the agent, the pull
// gate and the web UI) read the server's storage directly.
type ContentSource struct {
	Meta       Metadata
	Blobs      BlobStore
	Repository string
}

var (
	_ content.Fetcher         = (*ContentSource)(nil)
	_ registry.ReferrerLister = (*ContentSource)(nil)
)

// manifestMediaTypes are the media types Fetch reads from the metadata
// store.
var manifestMediaTypes = map[string]bool{
	ocispec.MediaTypeImageManifest: true, ocispec.MediaTypeImageIndex: true,
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
}

// Fetch returns the content of target: a manifest of the repository (by
// media type) or a blob linked to it. Unknown content is errdef.ErrNotFound.
func (s *ContentSource) Fetch(ctx context.Context, target ocispec.Descriptor) (io.ReadCloser, error) {
	if manifestMediaTypes[target.MediaType] {
		m, err := s.Meta.Manifest(ctx, s.Repository, target.Digest)
		if errors.Is(err, ErrManifestUnknown) {
			return nil, fmt.Errorf("%s: %w", target.Digest, errdef.ErrNotFound)
		}
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(m.Content)), nil
	}
	if _, err := s.Meta.BlobLink(ctx, s.Repository, target.Digest); err != nil {
		if errors.Is(err, ErrBlobUnknown) {
			return nil, fmt.Errorf("%s: %w", target.Digest, errdef.ErrNotFound)
		}
		return nil, err
	}
	rc, err := s.Blobs.Open(ctx, target.Digest)
	if errors.Is(err, ErrBlobUnknown) {
		return nil, fmt.Errorf("%s: %w", target.Digest, errdef.ErrNotFound)
	}
	return rc, err
}

// Referrers lists the referrers of desc in the repository, all in one page,
// filtered by artifactType when it is not empty.
func (s *ContentSource) Referrers(ctx context.Context, desc ocispec.Descriptor, artifactType string, fn func([]ocispec.Descriptor) error) error {
	refs, err := s.Meta.Referrers(ctx, s.Repository, desc.Digest)
	if err != nil {
		return err
	}
	page := refs[:0:0]
	for _, r := range refs {
		if artifactType == "" || r.ArtifactType == artifactType {
			page = append(page, r)
		}
	}
	return fn(page)
}
