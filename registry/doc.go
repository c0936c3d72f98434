// Package registry serves the OCI distribution API (spec v1.1) as a plain
// net/http handler: pull, push in every upload mode, cross-repository and
// anonymous mounts, range requests, tag and catalog listing with pagination,
// deletes, tag parameters on manifest PUT, and the referrers API, for sha256
// and sha512 digests.
//
// It stores through the two interfaces of package storage, so the same
// handlers run on the embedded default (files + bbolt) and on distributed
// stores. Every tag move is recorded with the principal that made it; the
// history is served at the extension endpoint
// GET /v2/<name>/_cairn/history[?tag=T]. GET /v2/<name>/_cairn/versions
// lists a repository's manifests with their tags, and
// GET /v2/<name>/_cairn/lineage?digest=D the lineage of one: what its SLSA
// provenance says it was built from, and which models' provenance names it
// as a dependency. Dependencies are read from a provenance bundle when it
// is pushed (package verify/lineage) and kept with the manifest's record;
// they are claims, not verified facts, until a client verifies the bundle.
//
// Everything a client controls is bounded by a named limit (see Limits):
// manifest size, blob size, page sizes, upload lifetime, and how long a
// request body may stall. Bad input is answered with an OCI error and leaves
// nothing behind: a blob becomes visible only after its digest is checked,
// and a manifest is recorded only when it parses and every blob it names is
// present.
//
// The package never imports a web framework; authentication and the access
// log hook in through Config.
package registry
