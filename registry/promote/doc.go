// Package promote moves model versions between registries with everything
// attached to them, the journeys behind `cairn copy`: a version, its
// signatures, attestations, OMS bundles and any other referrer (and their
// referrers, to MaxReferrerDepth), copied registry to registry.
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
package promote
