package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/pg"
	"cairn.dev/cairn/registry/s3"
	"cairn.dev/cairn/registry/storage"
)

// metaStore is what the commands need of a metadata store: everything both
// the embedded store (meta.DB) and PostgreSQL (pg.DB) implement.
type metaStore interface {
	storage.Metadata
	storage.Quarantines
	storage.Accounts
	storage.AccessLog
	Close() error
}

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

// distributed reports whether either store is outside --data.
func (b backendFlags) distributed() bool { return b.storage != "" || b.metadata != "" }

// openBackends opens the stores the flags name: each of --storage and
// --metadata, or the embedded store under dir for the one not given (dir is
// created in any case: the administrator's first credential goes there).
func openBackends(ctx context.Context, dir string, b backendFlags, lockTimeout time.Duration) (storage.BlobStore, metaStore, error) {
	if !b.distributed() {
		return openStores(dir, lockTimeout)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("create data directory: %w", err)
	}
	var (
		blobs storage.BlobStore
		md    metaStore
	)
	if b.storage != "" {
		s, err := openS3(ctx, b.storage)
		if err != nil {
			return nil, nil, err
		}
		blobs = s
	}
	if b.metadata != "" {
		db, err := pg.Open(ctx, b.metadata)
		if err != nil {
			return nil, nil, fmt.Errorf("--metadata: %w", err)
		}
		md = db
	}
	if blobs == nil || md == nil {
		eb, edb, err := openStores(dir, lockTimeout)
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
		return nil, fmt.Errorf("--storage: %w", err)
	}
	s, err := s3.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("--storage: %w", err)
	}
	return s, nil
}

// protectRecent tells a blob store that keeps recently committed blobs
// from deletion (the S3 store, which other nodes commit to) how recent.
func protectRecent(blobs storage.BlobStore, grace time.Duration) {
	if s, ok := blobs.(*s3.Store); ok {
		s.DeleteGrace = grace
	}
}

// gcLease is the lease (storage.Leases) the node that collects garbage
// holds, and gcLeaseTTL how long it lasts unless renewed.
const (
	gcLease    = "gc"
	gcLeaseTTL = 2 * time.Minute
)

// leaseHolder names this process in a lease.
func leaseHolder(what string) string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s %s pid %d %s", what, host, os.Getpid(), hex.EncodeToString(b))
}

// holdLease runs fn while holding the lease, renewing it; fn's context is
// cancelled if a renewal fails. It returns ErrLeaseHeld (wrapped) when
// another holder has the lease. With release set the lease is given up
// after fn; otherwise it is left to expire or be renewed by the caller.
func holdLease(ctx context.Context, leases storage.Leases, name, holder string, release bool, fn func(context.Context) error) error {
	if err := leases.AcquireLease(ctx, name, holder, gcLeaseTTL); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(gcLeaseTTL / 4)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if err := leases.AcquireLease(ctx, name, holder, gcLeaseTTL); err != nil {
				cancel(fmt.Errorf("lease %s lost: %w", name, err))
				return
			}
		}
	}()
	err := fn(ctx)
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		err = errors.Join(err, c)
	}
	if release {
		leases.ReleaseLease(context.WithoutCancel(ctx), name, holder)
	}
	return err
}

// collectShared runs the online collector every interval on the one node
// of those sharing md that holds the collector's lease: each node tries to
// take it every few seconds, the holder renews it, and when the holder
// stops (or dies: the lease expires) another takes over.
func collectShared(ctx context.Context, log *slog.Logger, reg *registry.Registry, leases storage.Leases, every, grace time.Duration) {
	holder := leaseHolder("cairn serve")
	tick := min(every, gcLeaseTTL/4)
	t := time.NewTicker(tick)
	defer t.Stop()
	next := time.Now().Add(every)
	holding := false
	defer func() {
		if holding {
			leases.ReleaseLease(context.WithoutCancel(ctx), gcLease, holder)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := leases.AcquireLease(ctx, gcLease, holder, gcLeaseTTL); err != nil {
			if holding {
				log.Warn("garbage collection: another node took the lease", "err", err)
			}
			holding = false
			continue
		}
		if !holding {
			log.Info("garbage collection: this node holds the lease and collects for every node", "holder", holder)
			holding = true
		}
		if time.Now().Before(next) {
			continue
		}
		next = time.Now().Add(every)
		err := holdLease(ctx, leases, gcLease, holder, false, func(ctx context.Context) error {
			rep, err := reg.GC(ctx, registry.GCOptions{Grace: grace})
			if err == nil {
				log.Info("garbage collected", "blobs", rep.BlobsRemoved, "bytes", rep.BytesFreed, "uploads", rep.UploadsRemoved)
			}
			return err
		})
		if err != nil && ctx.Err() == nil {
			log.Error("garbage collection failed", "err", err)
		}
	}
}

// describeBackends is for the "serving" log line.
func describeBackends(dir string, b backendFlags) string {
	var parts []string
	if b.storage != "" {
		if cfg, err := s3.ParseURL(b.storage); err == nil {
			parts = append(parts, "blobs in "+cfg.String())
		}
	} else {
		parts = append(parts, "blobs under "+dir)
	}
	if b.metadata != "" {
		parts = append(parts, "metadata in PostgreSQL")
	} else {
		parts = append(parts, "metadata under "+dir)
	}
	return strings.Join(parts, ", ")
}
