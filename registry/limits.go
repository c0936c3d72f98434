package registry

import "time"

// Limits bounds everything a client controls. Zero fields take the defaults
// below.
type Limits struct {
	// MaxManifestSize is the largest manifest accepted, in bytes.
	MaxManifestSize int64
	// MaxBlobSize is the largest blob accepted, in bytes.
	MaxBlobSize int64
	// UploadTTL is how long an upload session lives after it starts.
	UploadTTL time.Duration
	// MaxPageSize caps n on tag and catalog listings; longer lists are
	// paginated with a Link header.
	MaxPageSize int
	// BodyIdleTimeout fails a request whose body sends nothing for this long
	// (a slow-loris upload).
	BodyIdleTimeout time.Duration
	// ReferrersPageSize caps the descriptors of one page of the referrers
	// API; longer lists are paginated with a Link header, never cut.
	ReferrersPageSize int
}

// Default limits.
const (
	DefaultMaxManifestSize = 4 << 20
	DefaultMaxBlobSize     = 256 << 30
	DefaultUploadTTL       = 24 * time.Hour
	DefaultMaxPageSize     = 1000
	DefaultBodyIdleTimeout = time.Minute
	// DefaultReferrersPageSize keeps a page of referrers (about 500 bytes
	// each with annotations) under the 4 MiB oras-go reads by default.
	DefaultReferrersPageSize = 1000
)

// HTTP server limits that cmd/cairn applies to its http.Server; they live
// here so that tests and the server agree.
const (
	// ReadHeaderTimeout bounds how long a client may take to send headers.
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes keep-alive connections that carry no request.
	IdleTimeout = 2 * time.Minute
	// MaxHeaderBytes bounds request header size.
	MaxHeaderBytes = 64 << 10
)

func (l Limits) withDefaults() Limits {
	if l.MaxManifestSize <= 0 {
		l.MaxManifestSize = DefaultMaxManifestSize
	}
	if l.MaxBlobSize <= 0 {
		l.MaxBlobSize = DefaultMaxBlobSize
	}
	if l.UploadTTL <= 0 {
		l.UploadTTL = DefaultUploadTTL
	}
	if l.MaxPageSize <= 0 {
		l.MaxPageSize = DefaultMaxPageSize
	}
	if l.BodyIdleTimeout <= 0 {
		l.BodyIdleTimeout = DefaultBodyIdleTimeout
	}
	if l.ReferrersPageSize <= 0 {
		l.ReferrersPageSize = DefaultReferrersPageSize
	}
	return l
}
