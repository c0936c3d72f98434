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
// GET /v2/<name>/_cairn/history[?tag=T].
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
