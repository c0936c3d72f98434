package client

import (
	"context"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
)

// Tag points tag at the manifest the repository's reference (a tag or
// digest) names, in the same repository, as `cairn tag` does; a cairn
// registry records the move in the tag's history. It returns the
// manifest's descriptor.
func Tag(ctx context.Context, r *Repository, tag string) (ocispec.Descriptor, error) {
	src := r.Repo.Reference
	if src.Reference == "" {
		return ocispec.Descriptor{}, fmt.Errorf("%s: name a tag or digest to tag", src)
	}
	dst := src
	dst.Reference = tag
	if err := dst.ValidateReferenceAsTag(); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("new tag %q: %w", tag, err)
	}
	return oras.Tag(ctx, r.Repo, src.Reference, tag)
}
