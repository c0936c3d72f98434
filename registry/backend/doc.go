// Package backend opens the stores a registry keeps its blobs and metadata
// in, as `cairn serve`, `cairn gc` and `cairn scrub` choose them: the
// embedded stores under a data directory (cas for blobs, bbolt for
// metadata), an S3-compatible bucket for blobs (Options.Storage), and a
// PostgreSQL database for metadata (Options.Metadata), which several
// registry nodes can share.
//
// The data directory is created in any case: the administrator's first
// credential is written there even when both stores are elsewhere. Open
// never logs and never prints a URL it was given (a PostgreSQL URL may
// hold a password).
package backend
