// Package promote moves model versions between registries with everything
// attached to them, the journeys behind `cairn copy`, `cairn export` and
// `cairn import`: a version, its signatures, attestations, OMS bundles and
// any other referrer (and their referrers, to MaxReferrerDepth), copied
// registry to registry (Copy) or through a file across an air gap (Export,
// then ReadLayout and Import).
//
// Copy streams every blob from the source straight into the destination
// (nothing is written to the local disk) through oras-go's
// ExtendedCopyGraph: a blob or manifest the destination already has is
// skipped, so a copy that was interrupted resumes where it stopped; a
// blob is mounted instead of sent when both repositories are on the same
// registry; every blob and manifest read from the source is checked
// against its descriptor's digest and size as it streams, and a mismatch
// aborts the upload it feeds. Either side may be any OCI 1.1 registry:
// on a registry without the referrers API, oras-go falls back to the
// referrers tag schema (sha256-<hex> index tags), reading and writing.
//
// # The promotion gate
//
// With CopyOptions.Agent, the version is judged on the SOURCE by the
// verification agent's metadata checks (registry/client.LoadTarget,
// client.AddTransparency and agent.Agent.CheckMetadata: the policy rule of
// the source repository, digest pinning, transparency: required,
// signatures, attestations and age, over the bundles
// attest.CollectBundles finds) before anything is written to the
// destination. A refusal wraps verify.ErrVerification, says why (the
// Receipt records every check) and leaves the destination unchanged. The
// copy then moves the digest that was checked, never the tag again, so a
// tag moved at the source between the check and the copy cannot slip an
// unchecked version through. The files' formats are not scanned by the
// gate (that needs their bytes on this machine): a pull or `cairn run`
// at the destination scans them.
//
// # The export file
//
// Export writes one OCI image layout as a tar: oci-layout, each blob once
// as blobs/sha256/<hex> (streamed from the registry, checked against its
// digest), and index.json last. index.json lists every manifest of the
// file: each version, with AnnotationSource (the reference it was
// exported from) and org.opencontainers.image.ref.name (its tag, unless an
// earlier version of the file took it), and each referrer, with neither.
// The transparency evidence of a version (with an Agent whose rule says
// transparency: required) is two more blobs, the log's signed checkpoint
// and the inclusion proof in the JSON form of
// tlogproof.Evidence.MarshalInclusion, named by the version's
// AnnotationCheckpoint and AnnotationInclusion: blobs, so that they are
// covered by the same digest checks and the layout stays one that oras
// and skopeo read.
//
// ReadLayout reads such a tar as untrusted input, under the MaxLayout
// limits, and checks every digest and that every manifest is complete
// before Import looks at it. Import then checks every version with the
// agent and pushes nothing unless all pass. The policy rule that applies
// to a version on import is the one of its source repository, as
// AnnotationSource names it: the name the signatures and the log's proofs
// speak of, and the rule `cairn copy` would apply at the source. That name
// comes from the file; a policy for imports should deny what it does not
// name (rules deny by default) and require the transparency log where the
// name matters.
//
// Sync (`cairn sync`) mirrors the repositories of a registry's catalog that
// a pattern matches (verify.MatchPattern, the policy's match rules): each
// version a tag names and each earlier version a cairn source's tag history
// names goes through Copy, so a second run sends nothing and an interrupted
// one completes when run again. A destination tag naming another version is
// moved with a PUT by tag; a cairn destination records the move with its
// own time and the principal of the syncing client: the registry accepts no
// time or principal from a client, so the source's are not carried into
// the destination's record.
package promote
