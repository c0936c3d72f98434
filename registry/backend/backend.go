package backend

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cairn.dev/cairn/registry/cas"
	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/pg"
	"cairn.dev/cairn/registry/s3"
	"cairn.dev/cairn/registry/storage"
)

// Metadata is what a registry and its tools need of a metadata store:
// everything both the embedded store (meta.DB) and PostgreSQL (pg.DB)
// implement.
type Metadata interface {
	storage.Metadata
	storage.Quarantines
	storage.Accounts
	storage.AccessLog
	storage.LivePreviewer
	Close() error
}

var (
	_ Metadata = (*meta.DB)(nil)
	_ Metadata = (*pg.DB)(nil)
)

// Options say where the stores are. The zero value of Storage and Metadata
// means the embedded store under Dir.
type Options struct {
	// Dir is the data directory: the embedded stores live under it.
	Dir string
	// Storage is the blob store's URL:
	// s3://BUCKET[/PREFIX]?endpoint=URL&region=R (s3.ParseURL; credentials
	// come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY). Empty means
	// files under Dir.
	Storage string
	// Metadata is the metadata store's URL: postgres://USER@HOST:PORT/DB
	// (a pgx connection URL). Empty means bbolt under Dir.
	Metadata string
	// LockTimeout is how long to wait for the embedded metadata store's
	// lock, which a running server holds (meta.ErrLocked after it).
	LockTimeout time.Duration
}

// Shared reports whether either store is outside Dir, where other nodes
// may share it.
func (o Options) Shared() bool { return o.Storage != "" || o.Metadata != "" }

// String describes where the stores are, for a log line; it never holds a
// password.
func (o Options) String() string {
	var parts []string
	if o.Storage != "" {
		if cfg, err := s3.ParseURL(o.Storage); err == nil {
			parts = append(parts, "blobs in "+cfg.String())
		}
	} else {
		parts = append(parts, "blobs under "+o.Dir)
	}
	if o.Metadata != "" {
		parts = append(parts, "metadata in PostgreSQL")
	} else {
		parts = append(parts, "metadata under "+o.Dir)
	}
	return strings.Join(parts, ", ")
}

// Error says which store failed to open: Option is "storage" or
// "metadata", the Options field that named it.
type Error struct {
	Option string
	Err    error
}

func (e *Error) Error() string { return e.Option + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Open opens the stores the options name: the S3 store for Storage, the
// PostgreSQL store for Metadata, and the embedded store under Dir for the
// one not given. Dir is created in any case. The caller closes the
// metadata store.
func Open(ctx context.Context, o Options) (storage.BlobStore, Metadata, error) {
	if !o.Shared() {
		return OpenEmbedded(o.Dir, o.LockTimeout)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("create data directory: %w", err)
	}
	var (
		blobs storage.BlobStore
		md    Metadata
	)
	if o.Storage != "" {
		s, err := openS3(ctx, o.Storage)
		if err != nil {
			return nil, nil, &Error{Option: "storage", Err: err}
		}
		blobs = s
	}
	if o.Metadata != "" {
		db, err := pg.Open(ctx, o.Metadata)
		if err != nil {
			return nil, nil, &Error{Option: "metadata", Err: err}
		}
		md = db
	}
	if blobs == nil || md == nil {
		eb, edb, err := OpenEmbedded(o.Dir, o.LockTimeout)
		if err != nil {
			if md != nil {
				md.Close()
			}
			return nil, nil, err
		}
		if blobs == nil {
			blobs = eb
		}
		if md == nil {
			md = edb
		} else {
			edb.Close()
		}
	}
	return blobs, md, nil
}

func openS3(ctx context.Context, raw string) (*s3.Store, error) {
	cfg, err := s3.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	return s3.Open(ctx, cfg)
}

// OpenEmbedded opens the embedded stores under dir (created if need be):
// blobs as files (cas) and metadata in dir/meta.db (bbolt).
func OpenEmbedded(dir string, lockTimeout time.Duration) (*cas.Store, *meta.DB, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("create data directory: %w", err)
	}
	blobs, err := cas.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	db, err := meta.Open(filepath.Join(dir, "meta.db"), &meta.Options{LockTimeout: lockTimeout})
	if err != nil {
		return nil, nil, err
	}
	return blobs, db, nil
}

// ProtectRecent tells a blob store that keeps recently committed blobs
// from deletion (the S3 store, which other nodes commit to) how recent;
// other stores need not be told.
func ProtectRecent(blobs storage.BlobStore, grace time.Duration) {
	if s, ok := blobs.(*s3.Store); ok {
		s.DeleteGrace = grace
	}
}
