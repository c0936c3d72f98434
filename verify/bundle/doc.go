// Package bundle names a Sigstore bundle as cairn stores and reads it: its
// media type (the artifactType of a signature or attestation referrer, and
// the media type of its layer, as cosign v3 writes them) and the limits on
// what is read. It is the one place these are defined: the signer
// (attest), the verifier (verify), the pull gate, the web UI and the
// registry's lineage index all use it. It has no dependencies, so the
// registry core can name bundles without importing sigstore-go.
package bundle

// MediaType is the media type of a Sigstore bundle v0.3.
const MediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// Limits on the bundles read for one subject.
const (
	// MaxSize is the largest bundle, in bytes, that is read and parsed.
	MaxSize = 4 << 20
	// MaxCount is the most bundles (and referrers) read for one subject.
	MaxCount = 100
	// MaxLineage is the most bundle layers of one referrer the registry
	// reads to index lineage when it is pushed.
	MaxLineage = 4
)

// MaxReferrerManifest is the largest referrer manifest, in bytes, read to
// find its bundle layers (the registry's own manifest limit).
const MaxReferrerManifest = 4 << 20

// MaxCandidates is the most bundle referrers of one subject listed to
// choose the MaxCount that are read: a flood beyond it is reported, not
// read.
const MaxCandidates = 100_000

// MaxReferrerDepth is how far referrers of referrers are followed when a
// version is copied with everything attached to it (cairn copy, export): a
// signature of an attestation of the version is at depth 2.
const MaxReferrerDepth = 4
