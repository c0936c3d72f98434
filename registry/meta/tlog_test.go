package meta

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/storage"
)

func openTestDB(tb testing.TB, noSync bool) *DB {
	tb.Helper()
	db, err := Open(filepath.Join(tb.TempDir(), "meta.db"), &Options{NoSync: noSync})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkAppendLeaf measures the log's share of a change: one leaf
// appended in its own transaction to a log of b.N leaves, fsync off so
// that the figure is the work, not the disk.
func BenchmarkAppendLeaf(b *testing.B) {
	db := openTestDB(b, true)
	e := storage.EncodeLogEntry(storage.LogEntry{Kind: storage.EntryTag, Repository: "models/llama", Tag: "v1",
		Old: digest.FromString("a"), New: digest.FromString("b"), Time: time.Now(), By: "ci"})
	b.ReportAllocs()
	for b.Loop() {
		err := db.db.Update(func(tx *bolt.Tx) error {
			_, err := appendLeaf(tx, storage.LogNames, e)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutManifest_Tag is a tag move as a manifest PUT by tag makes
// it: a new manifest and a tag moved to it, two leaves.
func BenchmarkPutManifest_Tag(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("fsync=%v", sync), func(b *testing.B) {
			db := openTestDB(b, !sync)
			ctx := context.Background()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				c := fmt.Sprintf(`{"n":%d}`, i)
				m := &storage.Manifest{Repository: "models/llama", Digest: digest.FromString(c), MediaType: "application/json",
					Size: int64(len(c)), Content: []byte(c), Pushed: time.Now(), PushedBy: "ci"}
				if _, err := db.PutManifest(ctx, m, []string{"latest"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendPlain is the floor BenchmarkAppendLeaf compares with: the
// same entry appended under a sequence key, no hashes.
func BenchmarkAppendPlain(b *testing.B) {
	db := openTestDB(b, true)
	e := storage.EncodeLogEntry(storage.LogEntry{Kind: storage.EntryTag, Repository: "models/llama", Tag: "v1",
		Old: digest.FromString("a"), New: digest.FromString("b"), Time: time.Now(), By: "ci"})
	b.ReportAllocs()
	for b.Loop() {
		err := db.db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("plain"))
			if err != nil {
				return err
			}
			seq, _ := bk.NextSequence()
			return bk.Put(u64(int64(seq)), e)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// TestDB_LogHashes compares every stored hash with x/mod's own, over a log
// long enough for subtrees of several levels.
func TestDB_LogHashes(t *testing.T) {
	db := openTestDB(t, true)
	var stored []tlog.Hash
	mem := tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(ix))
		for i, x := range ix {
			out[i] = stored[x]
		}
		return out, nil
	})
	const n = 1100
	err := db.db.Update(func(tx *bolt.Tx) error {
		for i := range int64(n) {
			data := fmt.Appendf(nil, "leaf %d", i)
			got, err := appendLeaf(tx, "test", data)
			if err != nil || got != i {
				return fmt.Errorf("leaf %d: %d, %v", i, got, err)
			}
			hs, err := tlog.StoredHashes(i, data, mem)
			if err != nil {
				return err
			}
			stored = append(stored, hs...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all := make([]int64, tlog.StoredHashCount(n))
	for i := range all {
		all[i] = int64(i)
	}
	got, err := db.LogHashes(context.Background(), "test", all)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != stored[i] {
			t.Fatalf("stored hash %d: %s, want %s", i, got[i], stored[i])
		}
	}
	if _, err := db.LogHashes(context.Background(), "test", []int64{tlog.StoredHashCount(n)}); !errors.Is(err, storage.ErrLogCorrupt) {
		t.Errorf("hash past the end: %v, want ErrLogCorrupt", err)
	}
}
