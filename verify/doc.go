// Package verify holds the pure checks that decide whether a model may be
// loaded: digests of files against their descriptors, signatures and
// attestations against a policy. It never logs and never imports the
// registry or the web UI; checks return errors wrapping ErrVerification.
//
// # Signatures
//
// Signature checks cosign-style signature bundles (Sigstore bundle v0.3, a
// DSSE envelope over an in-toto statement with predicate
// https://sigstore.dev/cosign/sign/v1) of a manifest digest against trusted
// public keys, with sigstore-go. The caller fetches the bundles (through
// the referrers API); this package only reads bytes. Bundles are bounded by
// MaxBundleSize and MaxBundles. No bundle is ErrUnsigned; bundles none of
// which verifies is ErrUntrustedSignature. Keyless verification, policies
// and the other checks of the verification agent are still to come.
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
