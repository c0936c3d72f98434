package storagetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/storage"
)

// LogStore is a metadata store that keeps the transparency log of names.
type LogStore interface {
	storage.Metadata
	storage.Quarantines
	storage.TransparencyLogs
}

// TestTransparencyLogs runs the conformance suite for
// storage.TransparencyLogs: every change to a name is one leaf, in the
// order made, history moves name their leaves, the stored hashes are
// x/mod/sumdb/tlog's for the entries, and concurrent changes form one
// tree. newStore must return a new, empty store each time it is called.
func TestTransparencyLogs(t *testing.T, newStore func(t *testing.T) LogStore) {
	t.Run("Sequence", func(t *testing.T) {
		ctx := t.Context()
		s := newStore(t)
		if n, err := s.LogSize(ctx, storage.LogNames); err != nil || n != 0 {
			t.Fatalf("empty store: size %d, %v", n, err)
		}
		a, b := newManifest("r", `{"a":1}`), newManifest("r", `{"b":1}`)
		steps := []func() error{
			func() error { _, err := s.PutManifest(ctx, a, []string{"v1", "latest"}); return err }, // push, 2 creates
			func() error { _, err := s.PutManifest(ctx, a, []string{"v1", "latest"}); return err }, // nothing changes
			func() error { _, err := s.PutManifest(ctx, b, []string{"v1"}); return err },           // push, move
			func() error {
				return s.SetQuarantine(ctx, storage.Quarantine{Repository: "r", Digest: b.Digest, Reason: "bad", Time: pushTime})
			},
			func() error { return s.ClearQuarantine(ctx, "r", b.Digest) },
			func() error { return s.DeleteTag(ctx, "r", "latest", "alice") },
			func() error { return s.DeleteManifest(ctx, "r", a.Digest, "alice") },
		}
		for i, step := range steps {
			if err := step(); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		want := []string{
			storage.EntryManifestPush, storage.EntryTag, storage.EntryTag,
			storage.EntryManifestPush, storage.EntryTag,
			storage.EntryQuarantineSet, storage.EntryQuarantineLift,
			storage.EntryTag, storage.EntryManifestDelete,
		}
		entries := checkTree(t, s, int64(len(want)))
		for i, e := range entries {
			if e.Kind != want[i] {
				t.Errorf("leaf %d is a %s, want %s", i, e.Kind, want[i])
			}
		}
		checkHistoryLeaves(t, s, entries, "r")
		if _, err := s.LogEntries(ctx, storage.LogNames, 0, int64(len(want))+1); err == nil {
			t.Error("entries past the end: no error")
		}
		if _, err := s.LogHashes(ctx, storage.LogNames, []int64{tlog.StoredHashCount(int64(len(want)))}); !errors.Is(err, storage.ErrLogCorrupt) {
			t.Errorf("a hash past the end: %v, want ErrLogCorrupt", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		ctx := t.Context()
		s := newStore(t)
		const writers, each = 4, 20
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					m := newManifest(fmt.Sprintf("c/%d", w%2), fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))
					m.Pushed = time.Now()
					if _, err := s.PutManifest(ctx, m, []string{"latest"}); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		entries := checkTree(t, s, 2*writers*each) // a push and a move each
		checkHistoryLeaves(t, s, entries, "c/0", "c/1")
	})
}

// checkTree reads the whole log, checks its size and that the stored
// hashes are the ones x/mod/sumdb/tlog gives for the entries, and returns
// the entries decoded.
func checkTree(t *testing.T, s LogStore, want int64) []storage.LogEntry {
	t.Helper()
	ctx := t.Context()
	n, err := s.LogSize(ctx, storage.LogNames)
	if err != nil || n != want {
		t.Fatalf("log size %d, %v; want %d", n, err, want)
	}
	raw, err := s.LogEntries(ctx, storage.LogNames, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	var stored []tlog.Hash
	mem := tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(ix))
		for i, x := range ix {
			out[i] = stored[x]
		}
		return out, nil
	})
	var out []storage.LogEntry
	for i, e := range raw {
		hs, err := tlog.StoredHashes(int64(i), e, mem)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
		var le storage.LogEntry
		if err := json.Unmarshal(e, &le); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		out = append(out, le)
	}
	all := make([]int64, len(stored))
	for i := range all {
		all[i] = int64(i)
	}
	got, err := s.LogHashes(ctx, storage.LogNames, all)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != stored[i] {
			t.Fatalf("stored hash %d: %s, the entries give %s", i, got[i], stored[i])
		}
	}
	return out
}

// checkHistoryLeaves checks that every move in the repositories' history
// is the leaf it names, and that every tag leaf is such a move.
func checkHistoryLeaves(t *testing.T, s LogStore, entries []storage.LogEntry, repos ...string) {
	t.Helper()
	named := map[int64]bool{}
	for _, repo := range repos {
		moves, err := s.History(t.Context(), repo, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, mv := range moves {
			if mv.Leaf == nil || *mv.Leaf < 0 || *mv.Leaf >= int64(len(entries)) || !entries[*mv.Leaf].Matches(mv) {
				t.Fatalf("move %+v is not its leaf", mv)
			}
			named[*mv.Leaf] = true
		}
	}
	for i, e := range entries {
		if e.Kind == storage.EntryTag && !named[int64(i)] {
			t.Errorf("leaf %d records a move no history has: %+v", i, e)
		}
	}
}
