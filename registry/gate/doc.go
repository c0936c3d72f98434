// Package gate enforces a verification policy (package verify's Policy) on
// pulls at the registry, for `cairn serve --policy`: a manifest GET or HEAD
// is answered only when the rule for the repository is satisfied, so the
// server refuses what the verification agent would refuse.
//
// For each pull the gate checks, as the agent does: the rule's reject and
// digest pinning (a pull by tag is refused when the rule pins digests),
// the allowed digests, a signature of the manifest digest by one of the
// rule's signers, every required attestation (and builder id), and the
// maximum age. The Sigstore bundles are read from the registry's own
// store: the referrers of the manifest whose artifactType is a v0.3 bundle.
//
// Caveats: the gate does not scan weight files (formats and allowUnsafe
// are the agent's, which reads the bytes); results are cached per
// repository, digest and set of referrers for CacheTTL, so a newly
// attached signature counts at once but a key removed from the policy
// needs a restart (the policy is read once).
package gate
