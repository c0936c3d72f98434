package accesslog

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/storage"
)

// Defaults of Options.
const (
	DefaultBatchSize     = 1024
	DefaultFlushInterval = 50 * time.Millisecond
	DefaultBuffer        = 8192
	DefaultFullWait      = 100 * time.Millisecond
)

// Options configures a Recorder. The zero value is ready to use.
type Options struct {
	// BatchSize is the most records appended in one transaction; zero
	// means DefaultBatchSize.
	BatchSize int
	// FlushInterval is how long a record may wait to be appended; zero
	// means DefaultFlushInterval.
	FlushInterval time.Duration
	// Buffer is how many records may wait; zero means DefaultBuffer.
	Buffer int
	// FullWait is how long Record waits for room in a full buffer before
	// it drops the record; zero means DefaultFullWait, negative drops at
	// once. Drops are counted and written to the log as one ActionDropped
	// record as soon as the store accepts appends again.
	FullWait time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For header Middleware
	// believes: the client address is then the right-most address in it
	// that is not a trusted proxy. Empty: the header is ignored and the
	// address is the TCP peer's.
	TrustedProxies []netip.Prefix
	// Logger receives append failures and drops; nil means slog.Default().
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Reserve, when set, is released when Close cannot note the records
	// it dropped because the disk is full, and the note is tried once more:
	// a gap is always in the log itself when it can be.
	Reserve *storage.Reserve
}

// Stats counts what a Recorder did.
type Stats struct {
	// Recorded is how many records Record accepted into the buffer.
	Recorded uint64
	// Appended is how many records (dropped-records notes included) the
	// store accepted.
	Appended uint64
	// Dropped is how many records were lost: the buffer was full, the
	// recorder was closed, a record was invalid, or the store failed.
	Dropped uint64
}

// Recorder appends access records to a store in batches, from one
// goroutine, so that recording costs a request a channel send and not a
// database commit.
type Recorder struct {
	store    storage.AccessLog
	batch    int
	interval time.Duration
	fullWait time.Duration
	trusted  []netip.Prefix
	log      *slog.Logger
	now      func() time.Time
	reserve  *storage.Reserve

	ch       chan storage.AccessRecord
	flushReq chan chan struct{}
	stop     chan struct{}
	done     chan struct{}

	// mu makes Close wait for the Record calls in progress; Record holds
	// it shared.
	mu     sync.RWMutex
	closed bool

	// downloads pairs manifest GETs with the layer GETs that follow.
	downloads downloads

	recorded, appended, dropped atomic.Uint64
	// unnoted counts drops not yet written to the log.
	unnoted atomic.Uint64
}

// New starts a Recorder appending to store. Close it to flush.
func New(store storage.AccessLog, opts Options) *Recorder {
	r := &Recorder{
		store:    store,
		batch:    opts.BatchSize,
		interval: opts.FlushInterval,
		fullWait: opts.FullWait,
		trusted:  opts.TrustedProxies,
		log:      opts.Logger,
		now:      opts.Now,
		reserve:  opts.Reserve,
		flushReq: make(chan chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if r.batch <= 0 {
		r.batch = DefaultBatchSize
	}
	if r.interval <= 0 {
		r.interval = DefaultFlushInterval
	}
	if r.fullWait == 0 {
		r.fullWait = DefaultFullWait
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	buf := opts.Buffer
	if buf <= 0 {
		buf = DefaultBuffer
	}
	r.ch = make(chan storage.AccessRecord, buf)
	go r.run()
	return r
}

// Record queues rec to be appended; it does not wait for the store. A zero
// Time is set to now. Strings are made valid UTF-8 and cut to
// storage.MaxAccessField bytes. When the buffer is full Record waits up to
// Options.FullWait (or until ctx is done) and then drops rec, counting it.
// After Close, records are dropped.
func (r *Recorder) Record(ctx context.Context, rec storage.AccessRecord) {
	if rec.Time.IsZero() {
		rec.Time = r.now()
	}
	sanitize(&rec)
	if err := storage.ValidateAccessRecord(&rec); err != nil || rec.Action == storage.ActionPrune {
		r.log.Error("access log: record refused", "action", rec.Action, "err", err)
		r.drop(1)
		return
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		r.drop(1)
		return
	}
	select {
	case r.ch <- rec:
		r.recorded.Add(1)
		return
	default:
	}
	if r.fullWait > 0 {
		t := time.NewTimer(r.fullWait)
		defer t.Stop()
		select {
		case r.ch <- rec:
			r.recorded.Add(1)
			return
		case <-t.C:
		case <-ctx.Done():
		}
	}
	r.drop(1)
}

func (r *Recorder) drop(n uint64) {
	r.dropped.Add(n)
	r.unnoted.Add(n)
}

// Flush returns once every record recorded before the call was appended
// (or dropped because the store failed).
func (r *Recorder) Flush(ctx context.Context) error {
	reply := make(chan struct{})
	select {
	case r.flushReq <- reply:
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-reply:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting records and returns once everything recorded was
// appended, or when ctx is done (then the rest is appended in the
// background as far as the store allows).
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.stop)
	}
	r.mu.Unlock()
	select {
	case <-r.done:
		if n := r.unnoted.Swap(0); n > 0 {
			// The last chance to note the gap in the log itself: with a
			// full disk, in the room the reserve gives back.
			note := dropNote(r.now(), n)
			err := r.reserve.RetryFull(func() error {
				_, err := r.store.AppendAccess(context.Background(), note)
				return err
			})
			if err != nil {
				return fmt.Errorf("access log: %d records dropped and not noted in the log: %w", n, err)
			}
			r.appended.Add(1)
			r.log.Warn("access log: records were dropped", "records", n)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns the counters.
func (r *Recorder) Stats() Stats {
	return Stats{Recorded: r.recorded.Load(), Appended: r.appended.Load(), Dropped: r.dropped.Load()}
}

// run is the one goroutine that appends.
func (r *Recorder) run() {
	defer close(r.done)
	batch := make([]storage.AccessRecord, 0, r.batch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var tick <-chan time.Time
	flush := func() {
		if tick != nil {
			timer.Stop()
			tick = nil
		}
		r.append(batch)
		clear(batch)
		batch = batch[:0]
	}
	add := func(rec storage.AccessRecord) {
		batch = append(batch, rec)
		if len(batch) >= r.batch {
			flush()
		}
	}
	drain := func() {
		for {
			select {
			case rec := <-r.ch:
				add(rec)
			default:
				flush()
				return
			}
		}
	}
	for {
		select {
		case rec := <-r.ch:
			add(rec)
			if len(batch) > 0 && tick == nil {
				timer.Reset(r.interval)
				tick = timer.C
			}
		case <-tick:
			tick = nil
			flush()
		case reply := <-r.flushReq:
			drain()
			close(reply)
		case <-r.stop:
			drain()
			return
		}
	}
}

// append writes batch, preceded by a note of the records dropped since the
// last note, if any.
func (r *Recorder) append(batch []storage.AccessRecord) {
	lost := r.unnoted.Swap(0)
	if len(batch) == 0 && lost == 0 {
		return
	}
	recs := batch
	if lost > 0 {
		recs = append([]storage.AccessRecord{dropNote(r.now(), lost)}, batch...)
	}
	if _, err := r.store.AppendAccess(context.Background(), recs...); err != nil {
		r.log.Error("access log: append failed; records lost", "records", len(batch), "err", err)
		r.dropped.Add(uint64(len(batch)))
		r.unnoted.Add(lost + uint64(len(batch)))
		return
	}
	r.appended.Add(uint64(len(recs)))
	if lost > 0 {
		r.log.Warn("access log: records were dropped", "records", lost)
	}
}

// dropNote is the record of a gap: n records lost. It goes through the
// same append as every record (a leaf like any other).
func dropNote(now time.Time, n uint64) storage.AccessRecord {
	return storage.AccessRecord{
		Time:      now,
		Principal: storage.PrincipalSystem,
		Action:    storage.ActionDropped,
		Result:    storage.ResultFailed,
		Detail:    fmt.Sprintf("%d access records were lost (buffer full, store failing or recorder closed)", n),
	}
}

// sanitize makes every string field valid UTF-8 of at most
// storage.MaxAccessField bytes and clamps the status.
func sanitize(rec *storage.AccessRecord) {
	for _, p := range []*string{&rec.Principal, &rec.Address, &rec.Action, &rec.Repository, &rec.Reference, &rec.Result, &rec.Detail} {
		*p = clip(*p)
	}
	rec.Digest = digest.Digest(clip(string(rec.Digest)))
	if rec.Status < 0 || rec.Status > 999 {
		rec.Status = 0
	}
	rec.Seq, rec.Prev, rec.Hash = 0, "", ""
}

func clip(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= storage.MaxAccessField {
		return s
	}
	s = s[:storage.MaxAccessField]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1] // cut inside a rune
	}
	return s
}
