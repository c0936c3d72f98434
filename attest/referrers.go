package attest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

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

// Hints cairn writes on a bundle referrer manifest (Attach), beside
// cosign's, so that a verifier can read first the bundles that can verify
// with the keys it trusts. A hint never makes a bundle trusted: anyone who
// may push may write any annotation, and every bundle read is verified in
// full. A hint only orders what is read.
const (
	// AnnotationKeyID is the signing key's fingerprint (verify.KeyID), for
	// a bundle signed with a key.
	AnnotationKeyID = "dev.cairn.bundle.keyid"
	// AnnotationIdentity is the certificate identity, "subject (issuer)",
	// for a keyless bundle.
	AnnotationIdentity = "dev.cairn.bundle.identity"
)

// Selection says which of a subject's bundle referrers are read first
// when there are more than verify.MaxBundles. The zero Selection reads the
// newest first.
type Selection struct {
	// KeyIDs are the fingerprints (verify.KeyID) of the trusted keys.
	KeyIDs []string
	// Identities are the trusted keyless signers.
	Identities []verify.Identity
}

// SelectionFor is the Selection of the signers trust names.
func SelectionFor(trust verify.Trust) Selection {
	s := Selection{Identities: trust.Identities}
	for _, k := range trust.Keys {
		if id := verify.KeyID(k.Public); id != "" {
			s.KeyIDs = append(s.KeyIDs, id)
		}
	}
	return s
}

// Ranks of a candidate referrer: read in this order.
const (
	rankTrusted = iota // its hint names a trusted signer
	rankUnknown        // no hint (cosign, older cairn)
	rankOther          // its hint names a signer not trusted
)

func (s Selection) rank(r ocispec.Descriptor) int {
	if id, ok := r.Annotations[AnnotationKeyID]; ok {
		if slices.Contains(s.KeyIDs, id) {
			return rankTrusted
		}
		return rankOther
	}
	if who, ok := r.Annotations[AnnotationIdentity]; ok {
		subject, issuer := splitIdentity(who)
		for _, id := range s.Identities {
			if id.Matches(subject, issuer) {
				return rankTrusted
			}
		}
		return rankOther
	}
	return rankUnknown
}

// splitIdentity splits "subject (issuer)" as verify.Claim writes it.
func splitIdentity(s string) (subject, issuer string) {
	i := strings.LastIndex(s, " (")
	if i < 0 || !strings.HasSuffix(s, ")") {
		return s, ""
	}
	return s[:i], s[i+2 : len(s)-1]
}

// created is a referrer's creation time (its
// org.opencontainers.image.created annotation); zero when absent or
// malformed.
func created(r ocispec.Descriptor) time.Time {
	t, err := time.Parse(time.RFC3339, r.Annotations[ocispec.AnnotationCreated])
	if err != nil {
		return time.Time{}
	}
	return t
}

// Collection is what Collect found: the bundles read, and how many
// candidates there were, so that a refusal can say what was and was not
// read.
type Collection struct {
	// Bundles are the bundles read, in the order they were read.
	Bundles []Bundle
	// Candidates counts the referrers of artifact type MediaTypeBundle
	// listed (at most bundle.MaxCandidates).
	Candidates int
	// Read counts the candidates whose manifests were read.
	Read int
	// NotRead counts the candidates left unread: over the limit of
	// verify.MaxBundles.
	NotRead int
	// Unlisted is true when the listing stopped at bundle.MaxCandidates:
	// there may be more candidates than Candidates.
	Unlisted bool
}

// CollectBundles returns the Sigstore bundles attached to subject in src,
// as Collect with the zero Selection (newest first).
func CollectBundles(ctx context.Context, src ReferrerSource, subject ocispec.Descriptor) ([]Bundle, error) {
	c, err := Collect(ctx, src, subject, Selection{})
	if err != nil {
		return nil, err
	}
	return c.Bundles, nil
}

// Collect returns the Sigstore bundles attached to subject in src: the
// bundle layers (MediaTypeBundle) of its referrers of artifact type
// MediaTypeBundle (signatures and attestations alike, as cosign v3 and
// cairn attach them). It is the one collection of bundles used by the
// agent, the registry's pull gate, the web UI and the CLI.
//
// A referrer flood must not hide a good signature, so candidates are read
// in this order: those whose hint (AnnotationKeyID, AnnotationIdentity)
// names a signer of sel, then those without a hint, then those naming
// another signer; within each, newest first (the
// org.opencontainers.image.created annotation), then by digest. The hint
// only orders: every bundle read is verified in full by the caller.
//
// Limits: at most bundle.MaxCandidates referrers are listed (every page of
// the listing is followed), at most verify.MaxBundles of them read and at
// most verify.MaxBundles bundles returned; a referrer manifest over
// MaxReferrerManifestSize or a bundle over verify.MaxBundleSize is
// skipped. Every manifest and bundle is checked against its descriptor's
// digest and size as it is read (content.ReadAll). A referrer that is
// missing, malformed or does not match its digest is skipped, never fatal:
// anyone who may push may attach one, and a bad referrer must not hide a
// good one. Other errors (the network, the store) are returned.
func Collect(ctx context.Context, src ReferrerSource, subject ocispec.Descriptor, sel Selection) (*Collection, error) {
	c := &Collection{}
	var refs []ocispec.Descriptor
	err := src.Referrers(ctx, subject, MediaTypeBundle, func(page []ocispec.Descriptor) error {
		for _, r := range page {
			// A registry without the filter returns every referrer.
			if r.ArtifactType != MediaTypeBundle {
				continue
			}
			if len(refs) >= bundle.MaxCandidates {
				c.Unlisted = true
				return errEnoughReferrers
			}
			refs = append(refs, r)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnoughReferrers) {
		return nil, fmt.Errorf("referrers of %s: %w", subject.Digest, err)
	}
	c.Candidates = len(refs)
	type candidate struct {
		desc    ocispec.Descriptor
		rank    int
		created time.Time
	}
	cands := make([]candidate, len(refs))
	for i, r := range refs {
		cands[i] = candidate{r, sel.rank(r), created(r)}
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		if c := b.created.Compare(a.created); c != 0 {
			return c
		}
		return strings.Compare(string(a.desc.Digest), string(b.desc.Digest))
	})
	for i, cd := range cands {
		if c.Read >= verify.MaxBundles || len(c.Bundles) >= verify.MaxBundles {
			c.NotRead = len(cands) - i
			break
		}
		r := cd.desc
		c.Read++
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
			if len(c.Bundles) >= verify.MaxBundles {
				break
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
			c.Bundles = append(c.Bundles, Bundle{Referrer: r, Layer: l, Data: b})
		}
	}
	return c, nil
}

// Explain adds to err, a refusal of a signature check over c's bundles
// under trust, what was read: "N signature candidates, none verified with
// KEY (M not read: limit)". A model with candidates none of which held a
// readable bundle is refused with verify.ErrUntrustedSignature rather than
// verify.ErrUnsigned: it is not unsigned as far as anyone can tell. Other
// errors are returned as they are.
func (c *Collection) Explain(err error, trust verify.Trust) error {
	if err == nil || c == nil || c.Candidates == 0 ||
		!(errors.Is(err, verify.ErrUnsigned) || errors.Is(err, verify.ErrUntrustedSignature)) {
		return err
	}
	var who []string
	for _, k := range trust.Keys {
		who = append(who, "key "+k.Name)
	}
	for _, id := range trust.Identities {
		who = append(who, id.String())
	}
	more := ""
	if c.Unlisted {
		more = "+"
	}
	msg := fmt.Sprintf("%d%s signature candidates, none verified with %s (%d read, %d not read: limit %d)",
		c.Candidates, more, strings.Join(who, " or "), c.Read, c.NotRead, verify.MaxBundles)
	if errors.Is(err, verify.ErrUnsigned) {
		return fmt.Errorf("%w: %s", verify.ErrUntrustedSignature, msg)
	}
	return fmt.Errorf("%s: %w", msg, err)
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
