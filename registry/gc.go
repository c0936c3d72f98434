package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/storage"
)

// DefaultGCGrace is how old an unreferenced blob or upload must be before
// the garbage collector removes it: it protects pushes in progress, whose
// blobs arrive before the manifest that references them.
const DefaultGCGrace = time.Hour

// MinGCGrace is the least grace the collector applies beside a running
// server, whatever it is given (0 included), in cairn serve --gc-grace and
// in cairn gc --grace over shared stores alike: an upload whose bytes moved within it is in progress (it
// is twice the default stall limit of a request body, so a body still
// flowing is never taken), and a blob linked within it may be waiting for
// the manifest of its push. A push whose blobs take longer than the grace
// to be followed by their manifest needs a longer grace (the default).
const MinGCGrace = 2 * time.Minute

// UploadClockSkew is how far the clocks of nodes sharing stores may
// disagree for GC to judge an upload row with no bytes behind it lost: it
// must have started at least this long before the bytes were listed.
const UploadClockSkew = 5 * time.Second

// GCOptions configures GC.
type GCOptions struct {
	// Grace protects recent blobs, links and uploads; values below
	// MinGCGrace (zero included) mean MinGCGrace unless Exclusive.
	Grace time.Duration
	// Exclusive says nothing else uses the stores (cairn gc over --data,
	// holding the database's lock while the server is stopped): no upload
	// or push is in progress, so Grace applies as given, zero meaning none.
	Exclusive bool
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
}

// EffectiveGrace is the grace GC applies: as little as is safe. Beside a
// running server (exclusive false) it is at least MinGCGrace; with the
// stores to itself, grace as given.
func EffectiveGrace(grace time.Duration, exclusive bool) time.Duration {
	if exclusive {
		return max(grace, 0)
	}
	return max(grace, MinGCGrace)
}

// GCReport says what a collection removed.
type GCReport struct {
	BlobsRemoved   int
	BytesFreed     int64
	UploadsRemoved int
	Removed        []digest.Digest
}

// GC removes blobs that no manifest references and no recent upload linked,
// and uploads that expired or were abandoned. It is safe while the registry
// serves requests: each deletion re-checks, under the lock that blob commits
// take, that the blob is still unreferenced and old.
func (r *Registry) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	var rep GCReport
	cutoff := r.now().Add(-EffectiveGrace(opts.Grace, opts.Exclusive))

	// Uploads. The bytes first: when each upload last moved. Then the
	// sessions: expired ones go, and so do abandoned ones (started and last
	// moved before the cutoff, or with no bytes behind them at all, as
	// after an outage of the blob store). Last, bytes without a session.
	moved := map[string]time.Time{}
	walked := r.now()
	err := r.blobs.WalkUploads(ctx, func(id string, modified time.Time) error {
		moved[id] = modified
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("gc: ingest: %w", err)
	}
	sessions := map[string]bool{}
	err = r.meta.Uploads(ctx, func(s storage.UploadSession) error {
		m, hasBytes := moved[s.ID]
		expired := r.now().After(s.Started.Add(r.limits.UploadTTL))
		abandoned := s.Started.Before(cutoff) && (!hasBytes || m.Before(cutoff))
		// A session's bytes are made before its row (startUpload), so a
		// row older than the walk with no bytes lost them: an outage of
		// the blob store, a cancel whose row delete failed. It goes
		// whatever the grace.
		lost := !hasBytes && s.Started.Before(walked.Add(-UploadClockSkew))
		if expired || abandoned || lost {
			if !opts.DryRun {
				r.blobs.DeleteUpload(ctx, s.ID)
				err := r.reserve.RetryFull(func() error { return r.meta.DeleteUpload(ctx, s.ID) })
				if err != nil && !errors.Is(err, storage.ErrUploadUnknown) {
					return err
				}
			}
			rep.UploadsRemoved++
		}
		// Counted once: the walk below skips the ingest files of every
		// session, so a dry run does not count an expired one twice.
		sessions[s.ID] = true
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("gc: uploads: %w", err)
	}
	var orphans []string
	for id, m := range moved {
		if !sessions[id] && m.Before(cutoff) {
			orphans = append(orphans, id)
		}
	}
	if len(orphans) > 0 {
		n, err := r.removeOrphanUploads(ctx, orphans, opts.DryRun)
		rep.UploadsRemoved += n
		if err != nil {
			return rep, fmt.Errorf("gc: ingest: %w", err)
		}
	}

	// Blobs: mark from metadata, then sweep the store.
	// The dry run marks with the same transaction as the real run, rolled
	// back (storage.LivePreviewer), so it reports exactly what a real run
	// would remove.
	var live map[digest.Digest]bool
	if opts.DryRun {
		p, ok := r.meta.(storage.LivePreviewer)
		if !ok {
			return rep, fmt.Errorf("gc: %T cannot preview a collection: no dry run", r.meta)
		}
		live, err = p.PreviewLiveBlobs(ctx, cutoff)
	} else {
		// At 100% full the mark (a metadata write) may need the reserve.
		err = r.reserve.RetryFull(func() (err error) {
			live, err = r.meta.LiveBlobs(ctx, cutoff)
			return err
		})
	}
	if err != nil {
		return rep, fmt.Errorf("gc: mark: %w", err)
	}
	var candidates []storage.BlobInfo
	err = r.blobs.Walk(ctx, func(b storage.BlobInfo) error {
		if !live[b.Digest] && b.Modified.Before(cutoff) {
			candidates = append(candidates, b)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("gc: sweep: %w", err)
	}
	for _, b := range candidates {
		removed, err := r.sweep(ctx, b, cutoff, opts.DryRun)
		if err != nil {
			return rep, fmt.Errorf("gc: remove %s: %w", b.Digest, err)
		}
		if removed {
			rep.BlobsRemoved++
			rep.BytesFreed += b.Size
			rep.Removed = append(rep.Removed, b.Digest)
		}
	}
	if rep.BytesFreed > 0 && !opts.DryRun && !r.reserve.Held() {
		if err := r.reserve.Restore(); err != nil {
			r.log.Warn("garbage collection: could not make the storage reserve again", "err", err)
		}
	}
	return rep, nil
}

// removeOrphanUploads removes upload bytes that had no session when the
// sessions were read, each re-checked under the lock that starting an
// upload takes (its bytes and its session are made under it), so that an
// upload started meanwhile is never taken.
func (r *Registry) removeOrphanUploads(ctx context.Context, ids []string, dryRun bool) (int, error) {
	r.gcMu.Lock()
	defer r.gcMu.Unlock()
	n := 0
	for _, id := range ids {
		if _, err := r.meta.Upload(ctx, id); err == nil {
			continue
		} else if !errors.Is(err, storage.ErrUploadUnknown) {
			return n, err
		}
		if !dryRun {
			if err := r.blobs.DeleteUpload(ctx, id); err != nil {
				if errors.Is(err, storage.ErrUploadUnknown) {
					continue
				}
				return n, err
			}
		}
		n++
	}
	return n, nil
}

// sweep deletes one candidate blob if it is still unreferenced, holding the
// lock that blob commits take so no upload can link it meanwhile.
func (r *Registry) sweep(ctx context.Context, b storage.BlobInfo, cutoff time.Time, dryRun bool) (bool, error) {
	r.gcMu.Lock()
	defer r.gcMu.Unlock()
	if dryRun {
		// Nothing was removed by the rolled-back mark: BlobLive would
		// still see the stale links the real run removes.
		return true, nil
	}
	live, err := r.meta.BlobLive(ctx, b.Digest)
	if err != nil || live {
		return false, err
	}
	err = r.blobs.Delete(ctx, b.Digest)
	if errors.Is(err, storage.ErrBlobUnknown) {
		return false, nil
	}
	return err == nil, err
}
