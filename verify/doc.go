// Package verify holds the pure checks that decide whether a model may be
// loaded: digests of files against their descriptors, signatures and
// attestations against a policy. It never logs and never imports the
// registry or the web UI; checks return errors wrapping ErrVerification.
//
// # Signatures
//
// Bundles verifies Sigstore bundles (v0.3, a DSSE envelope over an in-toto
// statement) about a manifest digest with sigstore-go, against a Trust:
// public keys, and keyless identities (issuer and subject of a Fulcio
// certificate) with the trusted root that vouches for them (a Rekor entry
// or signed timestamp gives the signing time). Signature picks cosign
// signatures (predicate https://sigstore.dev/cosign/sign/v1) and
// Attestations other predicates, such as SLSA provenance. The caller
// fetches the bundles (through the referrers API); this package only reads
// bytes. Bundles are bounded by MaxBundleSize and MaxBundles. No bundle is
// ErrUnsigned; bundles none of which verifies is ErrUntrustedSignature; a
// missing attestation is ErrMissingAttestation.
//
// HashFiles and HashRanges hash files under a root in parallel, for the
// agent's digest checks and OpenSSF Model Signing.
//
// # Policy
//
// LoadPolicy and ParsePolicy read a policy file (YAML, docs/policy.md):
// rules tried in order, the first whose glob matches "host[:port]/path"
// saying who must have signed (keys read at load time, keyless identities
// with their trusted root), which attestations must be present, and what
// CheckDigest, CheckFormat and CheckAge demand. A repository no rule
// matches is refused. Mistakes in the file are PolicyErrors with their
// line and column; refusals wrap ErrPolicyDenied. Parsing does not verify
// anything: evaluating a model against its rule is the caller's.
package verify
