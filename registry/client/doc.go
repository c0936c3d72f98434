// Package client holds cairn's client journeys as plain functions over a
// Repository (Open), the way go-containerregistry's crane does: the cairn
// commands only turn flags into their options and print the results.
//
//   - Push and Pull move a model between a directory and a registry (Pull
//     with the verification agent of verify/agent: checked before anything
//     lands in the directory); LoadTarget fetches what the agent checks
//     first.
//   - Versions lists a repository (cairn's versions extension, or tags,
//     resolve and referrers on any registry); Inspect reads what a model
//     declares, with FetchLineage (provenance edges both ways, verified
//     against a trust when given); Diff compares two models' files.
//   - Sign and Attest attach signatures and attestations as referrers;
//     Dependency pins a provenance input by digest.
//   - Quarantine, Release and Quarantines are the administrative client of
//     the registry's quarantine endpoint.
//
// Errors: a registry's refusal to serve a manifest, and a manifest or
// config that is not a model (*ModelError), wrap verify.ErrVerification;
// everything else (network, absent tags) does not.
//
// Underneath, blobs move between a local directory and a registry on the
// distribution API:
//
//   - Upload streams a file as a chunked upload, hashing while it sends, so
//     a push reads each file once; the upload's location, offset and hash
//     state are saved after every acknowledged chunk, so an interrupted push
//     resumes where the registry stopped.
//   - Fetch downloads a blob into a local content-addressed Cache, hashing
//     while it writes; a blob becomes visible in the cache only when its
//     digest matches, and an interrupted download resumes with a range
//     request from the bytes already on disk.
//
// Both work with any registry that implements the spec (cairn, distribution,
// ...); requests go through an oras-go auth client, so credentials from the
// docker-style store apply.
//
// Cache layout under its root:
//
//	blobs/sha256/<hex>     verified blobs, read-only
//	ingest/<hex>           a download in progress (bytes so far)
//	uploads/<key>.json     state of an upload in progress
//	stat.json              digests of local files by (device, inode, size, mtime, ctime)
package client
