// Package meta is the embedded metadata store: one bbolt file implementing
// storage.Metadata.
//
// Layout (bucket names are constants in buckets.go):
//
//	meta                     schema -> version (uint64, big endian)
//	repos/<name>/manifests   digest -> JSON record (storage.Manifest without content)
//	repos/<name>/content     digest -> manifest bytes as pushed
//	repos/<name>/tags        tag -> digest
//	repos/<name>/history     tag 0x00 seq(8 bytes) -> JSON storage.TagMove
//	repos/<name>/referrers   subject 0x00 referrer -> empty
//	repos/<name>/blobs       digest -> JSON {size, linked}
//	uploads                  id -> JSON storage.UploadSession
//	quarantine               repo "@" digest -> JSON storage.Quarantine (created on first use)
//	access                   seq -> sha256 || encoding (the access log's hash chain)
//	access-chain             head, anchor -> seq || sha256
//	access-repo              repo 0x00 seq -> empty (index)
//	access-principal         principal 0x00 seq -> empty (index)
//
// Users, grants, API tokens and web sessions (storage.Accounts) have their
// own buckets, listed in buckets.go. The access buckets are created on the
// first append, the sessions bucket on the first login; a database without
// them reads as an empty log and no sessions.
//
// Every change is one db.Update, so each storage.Metadata method is atomic.
// Values are copied out before a transaction ends (bbolt's memory is only
// valid inside it). The schema version is checked on Open and migrations run
// in order; a database newer than this binary is refused.
//
// bbolt holds an exclusive file lock: only one process opens the database at
// a time. Offline tools (gc, scrub) therefore fail fast with ErrLocked while
// a server runs on the same directory.
package meta
