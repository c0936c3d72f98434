package web

import (
	"context"
	"errors"
	"sync"
	"time"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/storage"
)

// Cache bounds. Each cache is emptied when it is full, as the pull gate's
// verdict cache is: simple, and a full cache is rebuilt from the stores.
const (
	maxVerdicts  = 20_000
	maxScans     = 50_000
	maxSummaries = 100_000
)

// boundedCache is a map of immutable values by key, emptied when full.
type boundedCache[T any] struct {
	mu  sync.Mutex
	max int
	m   map[string]T
}

func newBoundedCache[T any](max int) *boundedCache[T] {
	return &boundedCache[T]{max: max, m: map[string]T{}}
}

func (c *boundedCache[T]) get(key string) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok
}

func (c *boundedCache[T]) put(key string, v T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[key] = v
}

// summaryCache holds each repository's summary for the index page until
// a push through Watch drops it or SummaryTTL passes.
type summaryCache struct {
	mu sync.Mutex
	m  map[string]*summary
}

func newSummaryCache() *summaryCache { return &summaryCache{m: map[string]*summary{}} }

func (c *summaryCache) get(repo string, now time.Time) *summary {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.m[repo]
	if s == nil || now.Sub(s.at) >= SummaryTTL || now.Before(s.at) {
		return nil
	}
	return s
}

func (c *summaryCache) put(s *summary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxSummaries {
		clear(c.m)
	}
	c.m[s.Name] = s
}

func (c *summaryCache) drop(repo string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, repo)
}

// lineageCache holds the registry's lineage index until a provenance push
// through Watch invalidates it or SummaryTTL passes. One caller rebuilds
// it while the others wait.
type lineageCache struct {
	build sync.Mutex // held by the one caller that rebuilds
	mu    sync.Mutex
	ix    *registry.LineageIndex
	at    time.Time
	stale bool
}

func (c *lineageCache) invalidate() {
	c.mu.Lock()
	c.stale = true
	c.mu.Unlock()
}

func (c *lineageCache) fresh(now time.Time) *registry.LineageIndex {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ix != nil && !c.stale && now.Sub(c.at) < SummaryTTL && !now.Before(c.at) {
		return c.ix
	}
	return nil
}

func (c *lineageCache) get(ctx context.Context, meta storage.Metadata, now time.Time) (*registry.LineageIndex, error) {
	if ix := c.fresh(now); ix != nil {
		return ix, nil
	}
	c.build.Lock()
	defer c.build.Unlock()
	if ix := c.fresh(now); ix != nil {
		return ix, nil // built by the caller before
	}
	c.mu.Lock()
	c.stale = false // a push during the build invalidates it again
	c.mu.Unlock()
	ix, err := registry.NewLineageIndex(ctx, meta)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.ix, c.at = ix, now
	c.mu.Unlock()
	return ix, nil
}

// pullCounter counts the successful pulls recorded in the access log, by
// repository. It reads each record once: every refresh walks the log from
// the newest record back to the newest one it had already counted.
// Records removed by retention stay counted until the process restarts.
type pullCounter struct {
	mu      sync.Mutex
	counts  map[string]int
	lastSeq uint64
	at      time.Time
}

// pullRefresh is how often the counts are brought up to date at most.
const pullRefresh = time.Second

// errStop ends a walk early.
var errStop = errors.New("stop")

// snapshot returns the counts, refreshed when they are older than
// pullRefresh. The map must not be modified.
func (p *pullCounter) snapshot(ctx context.Context, log AccessReader, now time.Time) (map[string]int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.at.IsZero() && now.Sub(p.at) < pullRefresh && !now.Before(p.at) {
		return p.counts, nil
	}
	var newest uint64
	add := map[string]int{}
	err := log.Access(ctx, storage.AccessFilter{Action: storage.ActionPull}, func(r storage.AccessRecord) error {
		if r.Seq <= p.lastSeq {
			return errStop
		}
		newest = max(newest, r.Seq)
		if r.Result == storage.ResultOK && r.Repository != "" {
			add[r.Repository]++
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if len(add) > 0 {
		// Copy on write: earlier snapshots stay as they were.
		counts := make(map[string]int, len(p.counts)+len(add))
		for k, v := range p.counts {
			counts[k] = v
		}
		for k, v := range add {
			counts[k] += v
		}
		p.counts = counts
	}
	p.lastSeq = max(p.lastSeq, newest)
	p.at = now
	return p.counts, nil
}

// chainCache holds the access log's verified chain state for ChainTTL.
type chainCache struct {
	mu sync.Mutex
	st storage.AccessChainState
	at time.Time
}

func (c *chainCache) get(ctx context.Context, log AccessReader, now time.Time) (storage.AccessChainState, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && now.Sub(c.at) < ChainTTL && !now.Before(c.at) {
		return c.st, c.at, nil
	}
	st, err := log.VerifyAccess(ctx)
	if err != nil {
		return storage.AccessChainState{}, time.Time{}, err
	}
	c.st, c.at = st, now
	return st, now, nil
}
