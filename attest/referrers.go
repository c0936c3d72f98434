package attest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"

	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/bundle"
)

// MaxReferrerManifestSize bounds a referrer manifest read to find its
// bundle layers (the registry's own manifest limit).
const MaxReferrerManifestSize = bundle.MaxReferrerManifest

// ReferrerSource is where a subject's bundles are found: an oras-go
// remote.Repository, an OCI layout, or an adapter over a pulled
// directory's record or the registry's own storage.
type ReferrerSource interface {
	content.Fetcher
	registry.ReferrerLister
}

// Bundle is a Sigstore bundle attached to a subject, with the referrer
// manifest it came in.
type Bundle struct {
	// Referrer is the descriptor of the referrer manifest.
	Referrer ocispec.Descriptor
	// Layer is the descriptor of the bundle layer.
	Layer ocispec.Descriptor
	// Data is the bundle, checked against Layer's digest and size.
	Data []byte
}

// errEnoughReferrers stops a referrers listing once enough are found.
var errEnoughReferrers = errors.New("enough referrers")

// CollectBundles returns the Sigstore bundles attached to subject in src:
// the bundle layers (MediaTypeBundle) of its referrers of artifact type
// MediaTypeBundle (signatures and attestations alike, as cosign v3 and
// cairn attach them). It is the one collection of bundles used by the
// agent, the registry's pull gate, the web UI and the CLI.
//
// Limits: at most verify.MaxBundles referrers are read and at most
// verify.MaxBundles bundles returned; a referrer manifest over
// MaxReferrerManifestSize or a bundle over verify.MaxBundleSize is
// skipped. Every manifest and bundle is checked against its descriptor's
// digest and size as it is read (content.ReadAll). A referrer that is
// missing, malformed or does not match its digest is skipped, never fatal:
// anyone who may push may attach one, and a bad referrer must not hide a
// good one. Other errors (the network, the store) are returned.
func CollectBundles(ctx context.Context, src ReferrerSource, subject ocispec.Descriptor) ([]Bundle, error) {
	var refs []ocispec.Descriptor
	err := src.Referrers(ctx, subject, MediaTypeBundle, func(page []ocispec.Descriptor) error {
		for _, r := range page {
			// A registry without the filter returns every referrer.
			if r.ArtifactType == MediaTypeBundle && len(refs) < verify.MaxBundles {
				refs = append(refs, r)
			}
		}
		if len(refs) >= verify.MaxBundles {
			return errEnoughReferrers
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnoughReferrers) {
		return nil, fmt.Errorf("referrers of %s: %w", subject.Digest, err)
	}
	var out []Bundle
	for _, r := range refs {
		if r.MediaType != ocispec.MediaTypeImageManifest || r.Size > MaxReferrerManifestSize || r.Digest.Validate() != nil {
			continue
		}
		mb, err := fetchChecked(ctx, src, r)
		if err != nil {
			if skippable(err) {
				continue
			}
			return nil, fmt.Errorf("referrer %s: %w", r.Digest, err)
		}
		var m ocispec.Manifest
		if json.Unmarshal(mb, &m) != nil {
			continue
		}
		for _, l := range m.Layers {
			if len(out) >= verify.MaxBundles {
				return out, nil
			}
			if l.MediaType != MediaTypeBundle || l.Size > verify.MaxBundleSize || l.Digest.Validate() != nil {
				continue
			}
			b, err := fetchChecked(ctx, src, l)
			if err != nil {
				if skippable(err) {
					continue
				}
				return nil, fmt.Errorf("bundle %s of referrer %s: %w", l.Digest, r.Digest, err)
			}
			out = append(out, Bundle{Referrer: r, Layer: l, Data: b})
		}
	}
	return out, nil
}

// BundleData returns the bundles' bytes, in order, as verify.Rule.Evaluate
// takes them.
func BundleData(bundles []Bundle) [][]byte {
	out := make([][]byte, len(bundles))
	for i, b := range bundles {
		out[i] = b.Data
	}
	return out
}

func fetchChecked(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor) ([]byte, error) {
	rc, err := src.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return content.ReadAll(rc, desc)
}

// skippable reports whether a referrer's read failed because of the
// referrer itself (gone, altered, malformed), not of the source.
func skippable(err error) bool {
	return errors.Is(err, errdef.ErrNotFound) || errors.Is(err, content.ErrMismatchedDigest) ||
		errors.Is(err, content.ErrTrailingData) || errors.Is(err, digest.ErrDigestInvalidFormat) ||
		errors.Is(err, errdef.ErrSizeExceedsLimit) || errors.Is(err, content.ErrInvalidDescriptorSize) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}
