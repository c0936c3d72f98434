package storage

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/opencontainers/go-digest"
)

// BlobURLer is an optional upgrade of a BlobStore whose blobs can be
// fetched straight from where they are kept (an object store), so that a
// registry can answer a blob GET with a redirect and the bytes need not
// pass through it. The S3 store implements it.
type BlobURLer interface {
	// BlobURL returns a URL from which a plain GET (with a Range header, if
	// wanted) fetches the committed blob dgst, without credentials, for at
	// least ttl. It does not check that the blob exists.
	BlobURL(ctx context.Context, dgst digest.Digest, ttl time.Duration) (*url.URL, error)
}

// Leases is an optional upgrade of a metadata store that several registry
// nodes share: a lease names the one node that may do some work (garbage
// collection) until it expires. Expiry is judged by the store's clock, so
// the nodes' clocks need not agree. The PostgreSQL store implements it; the
// embedded store, which one process holds, does not need to.
type Leases interface {
	// AcquireLease takes the lease name for holder until ttl from now, or
	// renews it when holder has it already. It returns ErrLeaseHeld
	// (wrapped, naming the holder) when another holder has it and it has
	// not expired.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) error
	// ReleaseLease gives the lease up if holder has it; otherwise it does
	// nothing.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// ErrLeaseHeld means another holder has the lease.
var ErrLeaseHeld = errors.New("lease held by another node")
