package accesslog_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cairn.dev/cairn/registry/accesslog"
	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage"
)

// openLog opens a bbolt database in t.TempDir() and closes it at the end.
func openLog(t testing.TB) *meta.DB {
	t.Helper()
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// countingLog counts the appends that reach a real store, and can hold
// them back or fail them.
type countingLog struct {
	storage.AccessLog
	appends atomic.Int64
	gate    chan struct{} // when set, each append waits for a receive
	fail    atomic.Int64  // appends to fail
}

func (c *countingLog) AppendAccess(ctx context.Context, recs ...storage.AccessRecord) ([]storage.AccessRecord, error) {
	if c.gate != nil {
		<-c.gate
	}
	if c.fail.Add(-1) >= 0 {
		return nil, errors.New("disk on fire")
	}
	c.appends.Add(1)
	return c.AccessLog.AppendAccess(ctx, recs...)
}

func all(t *testing.T, l storage.AccessLog, f storage.AccessFilter) []storage.AccessRecord {
	t.Helper()
	var out []storage.AccessRecord
	if err := l.Access(t.Context(), f, func(r storage.AccessRecord) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func pull(i int) storage.AccessRecord {
	return storage.AccessRecord{Principal: "alice", Address: "192.0.2.1", Action: storage.ActionPull,
		Repository: "team/model", Reference: fmt.Sprint("v", i), Result: storage.ResultOK, Status: 200}
}

func TestRecorder_Batches(t *testing.T) {
	db := openLog(t)
	store := &countingLog{AccessLog: db}
	rec := accesslog.New(store, accesslog.Options{Logger: quiet, BatchSize: 256, FlushInterval: 20 * time.Millisecond})
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				rec.Record(t.Context(), pull(w*each+i))
			}
		})
	}
	wg.Wait()
	if err := rec.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := all(t, db, storage.AccessFilter{})
	if len(got) != workers*each {
		t.Fatalf("%d records after Close, want %d", len(got), workers*each)
	}
	if n := store.appends.Load(); n > workers*each/10 {
		t.Errorf("%d appends for %d records: not batched", n, workers*each)
	}
	if s := rec.Stats(); s.Recorded != workers*each || s.Appended != workers*each || s.Dropped != 0 {
		t.Errorf("Stats = %+v", s)
	}
	// Each worker's records are in its order.
	last := map[string]int{}
	for i := len(got) - 1; i >= 0; i-- {
		var n int
		fmt.Sscanf(got[i].Reference, "v%d", &n)
		w := fmt.Sprint(n / each)
		if prev, ok := last[w]; ok && n <= prev {
			t.Fatalf("worker %s: record v%d after v%d", w, n, prev)
		}
		last[w] = n
	}
	if st, err := db.VerifyAccess(t.Context()); err != nil || !st.OK {
		t.Fatalf("VerifyAccess = %+v, %v", st, err)
	}
	t.Logf("%d records in %d appends", len(got), store.appends.Load())
}

func TestRecorder_FlushInterval(t *testing.T) {
	db := openLog(t)
	rec := accesslog.New(db, accesslog.Options{Logger: quiet, FlushInterval: 10 * time.Millisecond})
	defer rec.Close(context.Background())
	rec.Record(t.Context(), pull(1))
	// Without Flush, the record lands within about the interval.
	deadline := time.Now().Add(5 * time.Second)
	for len(all(t, db, storage.AccessFilter{})) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("record not appended after the flush interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
	rec.Record(t.Context(), pull(2))
	if err := rec.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := all(t, db, storage.AccessFilter{}); len(got) != 2 || got[0].Reference != "v2" {
		t.Fatalf("after Flush: %+v", got)
	}
}

func TestRecorder_FullBuffer(t *testing.T) {
	db := openLog(t)
	store := &countingLog{AccessLog: db, gate: make(chan struct{})}
	rec := accesslog.New(store, accesslog.Options{Logger: quiet, Buffer: 4, BatchSize: 2, FullWait: -1})
	// The writer takes up to a batch and blocks in the store; then the
	// buffer fills and the rest is dropped at once.
	start := time.Now()
	for i := range 50 {
		rec.Record(t.Context(), pull(i))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Record blocked for %v with FullWait < 0", d)
	}
	s := rec.Stats()
	if s.Dropped == 0 || s.Recorded+s.Dropped != 50 {
		t.Fatalf("Stats with a stuck store = %+v", s)
	}
	close(store.gate) // the disk recovers
	if err := rec.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := all(t, db, storage.AccessFilter{})
	notes := all(t, db, storage.AccessFilter{Action: storage.ActionDropped})
	// The notes (written as the store accepts appends again) add up to
	// what was dropped.
	var noted uint64
	for _, n := range notes {
		var k uint64
		fmt.Sscanf(n.Detail, "%d ", &k)
		noted += k
		if n.Principal != storage.PrincipalSystem || n.Result != storage.ResultFailed {
			t.Errorf("note = %+v", n)
		}
	}
	if len(notes) == 0 || noted != s.Dropped {
		t.Fatalf("dropped notes = %+v, want them to note %d", notes, s.Dropped)
	}
	if uint64(len(got)) != s.Recorded+uint64(len(notes)) {
		t.Errorf("%d records in the log, %d recorded + %d notes", len(got), s.Recorded, len(notes))
	}
	t.Logf("%d dropped, noted in %d records", s.Dropped, len(notes))
}

func TestRecorder_FullWait(t *testing.T) {
	db := openLog(t)
	store := &countingLog{AccessLog: db, gate: make(chan struct{})}
	rec := accesslog.New(store, accesslog.Options{Logger: quiet, Buffer: 1, BatchSize: 1, FullWait: 30 * time.Millisecond})
	for i := range 3 {
		rec.Record(t.Context(), pull(i)) // one in the store, one in the buffer
	}
	start := time.Now()
	rec.Record(t.Context(), pull(9))
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Errorf("Record on a full buffer returned after %v, want about FullWait", d)
	}
	// A done context ends the wait early.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start = time.Now()
	rec.Record(ctx, pull(10))
	if d := time.Since(start); d > 20*time.Millisecond {
		t.Errorf("Record with a done context waited %v", d)
	}
	close(store.gate)
	rec.Close(t.Context())
	if s := rec.Stats(); s.Dropped < 2 {
		t.Errorf("Stats = %+v, want the two records dropped", s)
	}
}

func TestRecorder_StoreFails(t *testing.T) {
	db := openLog(t)
	store := &countingLog{AccessLog: db}
	store.fail.Store(1)
	rec := accesslog.New(store, accesslog.Options{Logger: quiet})
	rec.Record(t.Context(), pull(1))
	rec.Flush(t.Context()) // fails: lost, counted
	rec.Record(t.Context(), pull(2))
	if err := rec.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := all(t, db, storage.AccessFilter{})
	if len(got) != 2 || got[1].Action != storage.ActionDropped || !strings.HasPrefix(got[1].Detail, "1 ") || got[0].Reference != "v2" {
		t.Fatalf("log after a failed append: %+v", got)
	}
}

func TestRecorder_Closed(t *testing.T) {
	db := openLog(t)
	rec := accesslog.New(db, accesslog.Options{Logger: quiet})
	if err := rec.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	rec.Record(t.Context(), pull(1)) // no panic, dropped
	// The second Close notes the drop in the log itself.
	if err := rec.Close(t.Context()); err != nil {
		t.Errorf("second Close after a dropped record: %v", err)
	}
	if got := all(t, db, storage.AccessFilter{}); len(got) != 1 || got[0].Action != storage.ActionDropped || !strings.HasPrefix(got[0].Detail, "1 ") {
		t.Errorf("log after a record dropped after Close: %+v, want one note of 1 record lost", got)
	}
	// With the store failing, Close says the drop was not noted.
	store := &countingLog{AccessLog: openLog(t)}
	store.fail.Store(100)
	failing := accesslog.New(store, accesslog.Options{Logger: quiet})
	failing.Record(t.Context(), pull(1))
	if err := failing.Close(t.Context()); err == nil || !strings.Contains(err.Error(), "not noted") {
		t.Errorf("Close with the store failing: %v, want records not noted", err)
	}
	if err := rec.Flush(t.Context()); err != nil {
		t.Errorf("Flush after Close: %v", err)
	}
	if s := rec.Stats(); s.Dropped != 1 {
		t.Errorf("Stats = %+v", s)
	}
}

func TestRecorder_Sanitize(t *testing.T) {
	db := openLog(t)
	rec := accesslog.New(db, accesslog.Options{Logger: quiet})
	r := pull(1)
	r.Detail = strings.Repeat("é", storage.MaxAccessField) // twice too long, in 2-byte runes
	r.Principal = "bad\xffname"
	r.Status = 5000
	rec.Record(t.Context(), r)
	rec.Record(t.Context(), storage.AccessRecord{Principal: "alice"})                                        // no action: refused
	rec.Record(t.Context(), storage.AccessRecord{Action: storage.ActionPrune, Reference: "1", Result: "ok"}) // reserved: refused
	rec.Close(t.Context())
	got := all(t, db, storage.AccessFilter{})
	if len(got) != 2 { // the record and the note of the two refused
		t.Fatalf("%d records: %+v", len(got), got)
	}
	g, note := got[0], got[1]
	if g.Action == storage.ActionDropped {
		g, note = note, g
	}
	if len(g.Detail) != storage.MaxAccessField || g.Principal != "bad\uFFFDname" || g.Status != 0 {
		t.Errorf("sanitized record: detail %d bytes, principal %q, status %d", len(g.Detail), g.Principal, g.Status)
	}
	if note.Action != storage.ActionDropped || !strings.HasPrefix(note.Detail, "2 ") {
		t.Errorf("note = %+v", note)
	}
}
