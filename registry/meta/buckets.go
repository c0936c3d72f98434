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
