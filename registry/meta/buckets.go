package meta

// Top-level buckets.
var (
	bucketMeta    = []byte("meta")
	bucketRepos   = []byte("repos")
	bucketUploads = []byte("uploads")
	// bucketQuarantine holds quarantined versions, keyed "<repo>@<digest>";
	// created on first use.
	bucketQuarantine = []byte("quarantine")
)

// Buckets inside each repository's bucket.
var (
	bucketManifests = []byte("manifests")
	bucketContent   = []byte("content")
	bucketTags      = []byte("tags")
	bucketHistory   = []byte("history")
	bucketReferrers = []byte("referrers")
	bucketBlobs     = []byte("blobs")
)

var repoBuckets = [][]byte{bucketManifests, bucketContent, bucketTags, bucketHistory, bucketReferrers, bucketBlobs}

// keySchema holds the schema version in bucketMeta.
var keySchema = []byte("schema")

// Top-level buckets of the accounts (storage.Accounts), created by the
// migration to schema 2.
var (
	bucketUsers   = []byte("users")   // name -> JSON storage.User
	bucketGrants  = []byte("grants")  // user 0x00 pattern -> JSON storage.Grant
	bucketTokens  = []byte("tokens")  // id -> JSON storage.APIToken
	bucketSecrets = []byte("secrets") // name -> bytes
)

// bucketSessions holds web UI sessions (storage.Sessions), id -> JSON
// storage.Session; created by the first login, so a database without it
// has no sessions.
var bucketSessions = []byte("sessions")

// keyAccountsRevision holds the accounts revision (uint64, big endian) in
// bucketMeta.
var keyAccountsRevision = []byte("accounts-revision")

// Top-level buckets of the access log (storage.AccessLog, access.go),
// created by the first append; a database without them has an empty log.
var (
	bucketAccess          = []byte("access")           // seq (8 bytes, big endian) -> SHA-256 (32 bytes) || storage.EncodeAccessRecord
	bucketAccessChain     = []byte("access-chain")     // head, anchor -> seq (8 bytes) || SHA-256 (32 bytes)
	bucketAccessRepo      = []byte("access-repo")      // repository 0x00 seq -> empty
	bucketAccessPrincipal = []byte("access-principal") // principal 0x00 seq -> empty
)

// Keys of bucketAccessChain.
var (
	keyAccessHead   = []byte("head")   // the newest record ever appended
	keyAccessAnchor = []byte("anchor") // the last record removed by retention
)
