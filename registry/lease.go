package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"cairn.dev/cairn/registry/storage"
)

// The lease (storage.Leases) that the one node collecting garbage for all
// the nodes sharing a metadata store holds.
const (
	// GCLease is the lease's name.
	GCLease = "gc"
	// GCLeaseTTL is how long it lasts unless renewed; the holder renews it
	// every quarter of that.
	GCLeaseTTL = 2 * time.Minute
)

// LeaseHolder names this process in a lease: what it is (e.g. "cairn
// serve"), the host, the process id and a random suffix.
func LeaseHolder(what string) string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s %s pid %d %s", what, host, os.Getpid(), hex.EncodeToString(b))
}

// HoldLease runs fn while holding the lease name, renewing it every
// GCLeaseTTL/4; fn's context is cancelled if a renewal fails. It returns
// storage.ErrLeaseHeld (wrapped) when another holder has the lease. With
// release set the lease is given up after fn; otherwise it is left to
// expire or to be renewed by the caller.
func HoldLease(ctx context.Context, leases storage.Leases, name, holder string, release bool, fn func(context.Context) error) error {
	if err := leases.AcquireLease(ctx, name, holder, GCLeaseTTL); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(GCLeaseTTL / 4)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if err := leases.AcquireLease(ctx, name, holder, GCLeaseTTL); err != nil {
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

// CollectOnce collects garbage once, as `cairn gc` does: when the
// registry's metadata store is shared by several nodes (it implements
// storage.Leases) it first takes GCLease for holder, and gives it up
// after, so that it never runs beside a node's collector
// (storage.ErrLeaseHeld, wrapped, when a node holds it).
func (r *Registry) CollectOnce(ctx context.Context, holder string, opts GCOptions) (GCReport, error) {
	leases, ok := r.meta.(storage.Leases)
	if !ok {
		return r.GC(ctx, opts)
	}
	var rep GCReport
	err := HoldLease(ctx, leases, GCLease, LeaseHolder(holder), true, func(ctx context.Context) error {
		var err error
		rep, err = r.GC(ctx, opts)
		return err
	})
	return rep, err
}

// CollectShared runs the online garbage collector every interval, until
// ctx ends, on the one node of those sharing leases (their metadata store)
// that holds GCLease: each node tries to take it every few seconds, the
// holder renews it, and when the holder stops (or dies: the lease expires)
// another takes over. It logs to the registry's logger.
func (r *Registry) CollectShared(ctx context.Context, leases storage.Leases, every, grace time.Duration) {
	log := r.log
	holder := LeaseHolder("cairn serve")
	t := time.NewTicker(min(every, GCLeaseTTL/4))
	defer t.Stop()
	next := time.Now().Add(every)
	holding := false
	defer func() {
		if holding {
			leases.ReleaseLease(context.WithoutCancel(ctx), GCLease, holder)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := leases.AcquireLease(ctx, GCLease, holder, GCLeaseTTL); err != nil {
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
		err := HoldLease(ctx, leases, GCLease, holder, false, func(ctx context.Context) error {
			rep, err := r.GC(ctx, GCOptions{Grace: grace})
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

// CollectEvery runs the online garbage collector every interval until ctx
// ends, on a registry whose stores no other node shares (CollectShared
// otherwise). It logs to the registry's logger.
func (r *Registry) CollectEvery(ctx context.Context, every, grace time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rep, err := r.GC(ctx, GCOptions{Grace: grace})
		if err != nil {
			r.log.Error("garbage collection failed", "err", err)
			continue
		}
		r.log.Info("garbage collected", "blobs", rep.BlobsRemoved, "bytes", rep.BytesFreed, "uploads", rep.UploadsRemoved)
	}
}
