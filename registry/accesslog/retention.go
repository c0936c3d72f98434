package accesslog

import (
	"context"
	"log/slog"
	"time"

	"cairn.dev/cairn/registry/storage"
)

// DefaultPruneInterval is how often Retain prunes.
const DefaultPruneInterval = 24 * time.Hour

// Retain prunes the records of store older than keep: once at once, then
// every interval (zero: DefaultPruneInterval) until ctx is done. keep <= 0
// returns at once (keep forever). Failures, a broken chain among them
// (storage.ErrAccessChainBroken: nothing is pruned then), are logged.
func Retain(ctx context.Context, store storage.AccessLog, keep, interval time.Duration, log *slog.Logger) {
	if keep <= 0 {
		return
	}
	if interval <= 0 {
		interval = DefaultPruneInterval
	}
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		before := time.Now().Add(-keep)
		n, err := store.PruneAccess(ctx, before)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("access log: pruning failed", "before", before.UTC().Format(time.RFC3339), "err", err)
		case n > 0:
			log.Info("access log: pruned", "records", n, "before", before.UTC().Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
