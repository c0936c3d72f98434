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

// refresher keeps a value that is expensive to compute (the lineage
// index, the access log's chain state, the pull counts) and recomputes it
// in the background, one computation at a time, so that a page never
// waits long for it:
//
//   - a fresh value (younger than ttl) is returned at once;
//   - an expired value is returned at once too, and a refresh starts;
//   - when there is no value yet, or it was invalidated (a push changed
//     it), a refresh starts and the caller waits for it up to wait; past
//     that it gets the old value, if any, and ok false.
type refresher[T any] struct {
	ttl     time.Duration
	now     func() time.Time
	compute func(ctx context.Context) (T, error)
	log     func(err error)

	mu      sync.Mutex
	val     T
	have    bool
	at      time.Time
	dirty   bool
	running chan struct{} // closed when the refresh in flight ends
}

// computeTimeout bounds one background computation.
const computeTimeout = 10 * time.Minute

// get returns the value, when it was computed, and whether it is current
// (fresh, or computed for this call).
func (r *refresher[T]) get(ctx context.Context, wait time.Duration) (val T, at time.Time, ok bool) {
	r.mu.Lock()
	now := r.now()
	if r.have && !r.dirty && now.Sub(r.at) < r.ttl && !now.Before(r.at) {
		defer r.mu.Unlock()
		return r.val, r.at, true
	}
	needWait := !r.have || r.dirty
	if r.running == nil {
		r.running = make(chan struct{})
		r.dirty = false // an invalidation during the computation sets it again
		go r.refresh(r.running)
	}
	done := r.running
	if !needWait {
		defer r.mu.Unlock()
		return r.val, r.at, true // expired: served while it refreshes
	}
	r.mu.Unlock()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
	case <-ctx.Done():
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-done:
		return r.val, r.at, r.have
	default:
		return r.val, r.at, false
	}
}

func (r *refresher[T]) refresh(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), computeTimeout)
	defer cancel()
	v, err := r.compute(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if r.log != nil {
			r.log(err)
		}
	} else {
		r.val, r.have, r.at = v, true, r.now()
	}
	r.running = nil
	close(done)
}

// invalidate makes the next get wait for a new value.
func (r *refresher[T]) invalidate() {
	r.mu.Lock()
	r.dirty = true
	r.mu.Unlock()
}

// Waits of the refreshers: how long a page waits for a value that is not
// there yet. The lineage waits long, since a version page without it would
// be wrong; pull counts and the chain state are extras a page shows as
// "still counting" rather than keep the visitor waiting.
const (
	lineageWait = 5 * time.Second
	pullsWait   = 50 * time.Millisecond
	chainWait   = 50 * time.Millisecond
)

// pullCounter counts the pulls recorded in the access log, by repository.
// A pull is a download record (storage.ActionDownload): a manifest GET
// followed by a GET of one of its layers by the same client, written by
// the recorder once per manifest GET. Reading a manifest alone (cairn tag,
// which reads it to push it under another tag; cairn inspect; clients
// that have every layer cached), a HEAD, a tag list and the versions
// endpoint cairn ls reads are never counted. It reads each record once: every refresh walks the log from
// the newest record back to the newest one it had already counted. It is
// only called by its refresher, one call at a time. Records removed by
// retention stay counted until the process restarts.
type pullCounter struct {
	log     AccessReader
	counts  map[string]int
	lastSeq uint64 // the newest pull counted
	headSeq uint64 // the newest record of any kind seen
}

// pullRefresh is how long pull counts are shown before they are brought
// up to date.
const pullRefresh = time.Second

// errStop ends a walk early.
var errStop = errors.New("stop")

// count brings the counts up to date and returns them. The map returned
// is not modified afterwards.
func (p *pullCounter) count(ctx context.Context) (map[string]int, error) {
	// Nothing appended since the last count: one record read.
	var head uint64
	err := p.log.Access(ctx, storage.AccessFilter{Limit: 1}, func(r storage.AccessRecord) error {
		head = r.Seq
		return nil
	})
	if err != nil {
		return nil, err
	}
	if p.counts != nil && head == p.headSeq {
		return p.counts, nil
	}
	var newest uint64
	add := map[string]int{}
	err = p.log.Access(ctx, storage.AccessFilter{Action: storage.ActionDownload}, func(r storage.AccessRecord) error {
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
	if len(add) > 0 || p.counts == nil {
		// Copy on write: maps handed out stay as they were.
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
	p.headSeq = max(p.headSeq, head)
	return p.counts, nil
}

// newRefreshers sets up the UI's background values.
func (u *UI) newRefreshers() {
	logErr := func(what string) func(error) {
		return func(err error) { u.log.Error("web: "+what, "err", err) }
	}
	u.lineage = &refresher[*registry.LineageIndex]{ttl: SummaryTTL, now: u.now, log: logErr("build the lineage index"),
		compute: func(ctx context.Context) (*registry.LineageIndex, error) {
			return registry.NewLineageIndex(ctx, u.cfg.Meta)
		}}
	u.search = &refresher[searchIndex]{ttl: SummaryTTL, now: u.now, log: logErr("build the search index"), compute: u.buildSearchIndex}
	if u.access == nil {
		return
	}
	pc := &pullCounter{log: u.access}
	u.pulls = &refresher[map[string]int]{ttl: pullRefresh, now: u.now, log: logErr("count pulls"), compute: pc.count}
	u.chain = &refresher[storage.AccessChainState]{ttl: ChainTTL, now: u.now, log: logErr("verify the access log"),
		compute: u.access.VerifyAccess}
}
