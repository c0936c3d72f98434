// Package pg is the distributed metadata store: storage.Metadata,
// storage.Quarantines, storage.Accounts, storage.AccessLog and
// storage.Leases in a PostgreSQL database that several cairn serve nodes
// share (cairn serve --metadata postgres://...).
//
// Tables (migrations/*.sql; records are the JSON of the storage types, as
// in the embedded store):
//
//	schema_version   version: the number of migrations applied
//	repositories     id, name
//	manifests        (repo_id, digest) -> subject, record, content
//	manifest_blobs   (repo_id, manifest, blob): storage.Manifest.Blobs, for the collector
//	tags             (repo_id, tag) -> digest
//	tag_history      id (the order of the moves), repo_id, tag, record
//	blob_links       (repo_id, digest) -> size, linked
//	uploads          id -> record
//	quarantines      (repository, digest) -> record
//	users, grants, tokens, sessions, secrets, counters   the accounts
//	access_log, access_chain                   the access log's hash chain
//	leases           name -> holder, expires
//
// Invariants:
//   - every method is one transaction (or one statement), so it is atomic
//     on every node;
//   - writes to a repository's manifests and tags lock the repository's
//     row (FOR NO KEY UPDATE), so concurrent tag moves from any node are
//     serialised and each lands in the history, in the order they happened;
//     blob links and child manifests a push relies on are locked FOR SHARE
//     until it commits;
//   - LiveBlobs holds an advisory lock that PutManifest takes shared, so the
//     collector's mark sees every reference;
//   - appends to the access log take one advisory lock, so its hash chain
//     has one order across nodes;
//   - migrations run in order, once, under an advisory lock, in one
//     transaction; a database migrated by a newer cairn is refused.
//
// Advisory lock keys are hashed with the schema's name, so several schemas
// of one database (a test's, say: ?search_path=NAME) are independent.
//
// Caveats: text is compared in the "C" collation, so listings are in byte
// order as in the embedded store; strings holding NUL bytes cannot be
// stored in text columns (the registry's names and tags never do; the
// access log keeps its fields as bytes). Times of blob links are kept to
// the microsecond; every time in a record keeps its nanoseconds.
package pg
