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

// GCOptions configures GC.
type GCOptions struct {
	// Grace protects recent blobs and links; zero means DefaultGCGrace.
	Grace time.Duration
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
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
	grace := opts.Grace
	if grace <= 0 {
		grace = DefaultGCGrace
	}
	cutoff := r.now().Add(-grace)

	// Uploads: expired sessions, and ingest files without a session.
	sessions := map[string]bool{}
	err := r.meta.Uploads(ctx, func(s storage.UploadSession) error {
		if r.now().After(s.Started.Add(r.limits.UploadTTL)) {
			if !opts.DryRun {
				r.blobs.DeleteUpload(ctx, s.ID)
				if err := r.meta.DeleteUpload(ctx, s.ID); err != nil && !errors.Is(err, storage.ErrUploadUnknown) {
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
	err = r.blobs.WalkUploads(ctx, func(id string, modified time.Time) error {
		if sessions[id] || modified.After(cutoff) {
			return nil
		}
		if !opts.DryRun {
			if err := r.blobs.DeleteUpload(ctx, id); err != nil && !errors.Is(err, storage.ErrUploadUnknown) {
				return err
			}
		}
		rep.UploadsRemoved++
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("gc: ingest: %w", err)
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
		live, err = r.meta.LiveBlobs(ctx, cutoff)
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
	return rep, nil
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
