// Package storage defines the two seams the registry stores through: a
// content-addressed [BlobStore] for bytes and a [Metadata] store for
// everything else (repositories, manifests, tags and their history,
// referrers, blob links, upload sessions).
//
// The registry handlers depend only on these interfaces, so the embedded
// default (files under --data plus bbolt, packages cas and meta) and a
// distributed one (an object store plus a SQL database) are interchangeable.
// Package storagetest holds the conformance suites every implementation must
// pass.
//
// Invariants every implementation keeps:
//   - a blob is visible (Stat, Open) only once it is complete and its digest
//     has been checked; a failed or cancelled upload leaves nothing visible;
//   - every Metadata method is atomic: it either happens entirely or not at
//     all, and concurrent callers see one order;
//   - errors wrap the sentinels in errors.go so callers test them with
//     errors.Is.
package storage
