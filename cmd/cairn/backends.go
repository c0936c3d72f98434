package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/backend"
	"cairn.dev/cairn/registry/storage"
)

// metaStore is what the commands need of a metadata store.
type metaStore = backend.Metadata

// backendFlags are --storage and --metadata: where blobs and metadata are
// kept when not under --data.
type backendFlags struct {
	storage  string
	metadata string
}

const (
	storageFlagHelp  = "blob store: s3://BUCKET[/PREFIX]?endpoint=URL&region=R (credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); default: files under --data"
	metadataFlagHelp = "metadata store: postgres://USER@HOST:PORT/DB (pgx connection URL); default: bbolt under --data"
)

func (b backendFlags) options(dir string, lockTimeout time.Duration) backend.Options {
	return backend.Options{Dir: dir, Storage: b.storage, Metadata: b.metadata, LockTimeout: lockTimeout}
}

// distributed reports whether either store is outside --data.
func (b backendFlags) distributed() bool { return b.options("", 0).Shared() }

// openBackends opens the stores the flags name (backend.Open); an error
// names the flag of the store that failed.
func openBackends(ctx context.Context, dir string, b backendFlags, lockTimeout time.Duration) (storage.BlobStore, metaStore, error) {
	blobs, md, err := backend.Open(ctx, b.options(dir, lockTimeout))
	if be := (*backend.Error)(nil); errors.As(err, &be) {
		err = fmt.Errorf("--%s: %w", be.Option, be.Err)
	}
	return blobs, md, err
}

// protectRecent is backend.ProtectRecent.
func protectRecent(blobs storage.BlobStore, grace time.Duration) { backend.ProtectRecent(blobs, grace) }

// collectShared runs the shared collector (registry.CollectShared, which
// logs to the registry's logger, the one serve gives it).
func collectShared(ctx context.Context, _ *slog.Logger, reg *registry.Registry, leases storage.Leases, every, grace time.Duration) {
	reg.CollectShared(ctx, leases, every, grace)
}

// describeBackends is for the "serving" log line.
func describeBackends(dir string, b backendFlags) string { return b.options(dir, 0).String() }

// reserveFile is the reserve's name in the data directory.
const reserveFile = "reserve"

// openReserve keeps the storage reserve (storage.Reserve) in the data
// directory when the stores are the embedded ones on its filesystem; with
// shared stores there is none (nil).
func openReserve(dir string, b backendFlags) (*storage.Reserve, error) {
	if b.storage != "" || b.metadata != "" {
		return nil, nil
	}
	return storage.OpenReserve(filepath.Join(dir, reserveFile), storage.DefaultReserveSize)
}
