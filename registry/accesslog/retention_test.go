package accesslog_test

import (
	"context"
	"testing"
	"time"

	"cairn.dev/cairn/registry/accesslog"
	"cairn.dev/cairn/registry/storage"
)

func TestRetain(t *testing.T) {
	db := openLog(t)
	old := pull(1)
	old.Time = time.Now().Add(-48 * time.Hour)
	recent := pull(2)
	if _, err := db.AppendAccess(t.Context(), old, old, recent); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		accesslog.Retain(ctx, db, 24*time.Hour, time.Hour, quiet)
		close(done)
	}()
	// The first prune runs at once.
	deadline := time.Now().Add(5 * time.Second)
	for len(all(t, db, storage.AccessFilter{Action: storage.ActionPrune})) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Retain did not prune")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	got := all(t, db, storage.AccessFilter{})
	if len(got) != 2 || got[1].Reference != "v2" || got[0].Action != storage.ActionPrune {
		t.Fatalf("after Retain: %+v", got)
	}
	if st, err := db.VerifyAccess(t.Context()); err != nil || !st.OK || st.AnchorSeq != 2 {
		t.Fatalf("VerifyAccess = %+v, %v", st, err)
	}
	// Keep forever: returns at once.
	accesslog.Retain(t.Context(), db, 0, 0, quiet)
}
