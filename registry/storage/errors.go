package storage

import "errors"

var (
	// ErrBlobUnknown means the blob is not in the store, or not linked to the
	// repository that asked for it.
	ErrBlobUnknown = errors.New("blob unknown")
	// ErrManifestUnknown means the repository holds no manifest with that
	// digest.
	ErrManifestUnknown = errors.New("manifest unknown")
	// ErrTagUnknown means the repository has no such tag.
	ErrTagUnknown = errors.New("tag unknown")
	// ErrNameUnknown means the repository does not exist.
	ErrNameUnknown = errors.New("repository unknown")
	// ErrUploadUnknown means there is no upload session with that id, or it
	// has expired.
	ErrUploadUnknown = errors.New("upload unknown")
	// ErrDigestMismatch means the bytes written do not hash to the digest the
	// client named. Nothing was stored.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrSizeMismatch means the bytes written are not as many as the client
	// said. Nothing was stored.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrUnsupportedDigest means the digest algorithm is not one the store
	// can verify (sha256 and sha512 are).
	ErrUnsupportedDigest = errors.New("unsupported digest algorithm")
	// ErrBlobReferenced is returned by conditional deletes when a manifest
	// still refers to the blob.
	ErrBlobReferenced = errors.New("blob is referenced")
	// ErrNotQuarantined means the version asked to be released is not
	// quarantined.
	ErrNotQuarantined = errors.New("not quarantined")
	// ErrLogCorrupt means a transparency log is missing a stored hash or an
	// entry below its size: the store was edited or damaged.
	ErrLogCorrupt = errors.New("transparency log is missing a hash or an entry")
)
