package meta_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/storage/storagetest"
)

// The access log's buckets, as an attacker with the file would name them.
var (
	rawAccess    = []byte("access")
	rawChain     = []byte("access-chain")
	rawIndexes   = [][]byte{[]byte("access-repo"), []byte("access-principal")}
	rawHead      = []byte("head")
	rawAnchor    = []byte("anchor")
	accessSeqKey = func(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }
)

func TestDB_AccessLog(t *testing.T) {
	storagetest.TestAccessLog(t, func(t *testing.T) storage.AccessLog {
		db, _ := openDB(t, &meta.Options{NoSync: true})
		return db
	})
}

// rawUpdate edits the database through bbolt directly, bypassing meta.DB.
func rawUpdate(t *testing.T, db *meta.DB, fn func(tx *bolt.Tx) error) {
	t.Helper()
	if err := db.Bolt().Update(fn); err != nil {
		t.Fatal(err)
	}
}

// boltTamper edits the records in the bbolt file the way someone with the
// file and the encoding would.
func boltTamper(db *meta.DB) storagetest.AccessTamper {
	setPoint := func(t *testing.T, key []byte, seq uint64, hash string) {
		h, err := hex.DecodeString(hash)
		if err != nil || len(h) != sha256.Size {
			t.Fatalf("bad hash %q", hash)
		}
		rawUpdate(t, db, func(tx *bolt.Tx) error {
			return tx.Bucket(rawChain).Put(key, append(binary.BigEndian.AppendUint64(nil, seq), h...))
		})
	}
	return storagetest.AccessTamper{
		Edit: func(t *testing.T, seq uint64, edit func(*storage.AccessRecord), rehash bool) {
			rawUpdate(t, db, func(tx *bolt.Tx) error {
				b := tx.Bucket(rawAccess)
				v := b.Get(accessSeqKey(seq))
				r, err := storage.DecodeAccessRecord(v[sha256.Size:])
				if err != nil {
					return err
				}
				edit(&r)
				enc, err := storage.EncodeAccessRecord(&r)
				if err != nil {
					return err
				}
				stored := v[:sha256.Size]
				if rehash {
					sum := sha256.Sum256(enc)
					stored = sum[:]
				}
				return b.Put(accessSeqKey(seq), append(bytes.Clone(stored), enc...))
			})
		},
		Delete: func(t *testing.T, seq uint64) {
			rawUpdate(t, db, func(tx *bolt.Tx) error { return tx.Bucket(rawAccess).Delete(accessSeqKey(seq)) })
		},
		Swap: func(t *testing.T, a, b uint64) {
			rawUpdate(t, db, func(tx *bolt.Tx) error {
				bk := tx.Bucket(rawAccess)
				va, vb := bytes.Clone(bk.Get(accessSeqKey(a))), bytes.Clone(bk.Get(accessSeqKey(b)))
				if err := bk.Put(accessSeqKey(a), vb); err != nil {
					return err
				}
				return bk.Put(accessSeqKey(b), va)
			})
		},
		Unindex: func(t *testing.T, seq uint64) {
			rawUpdate(t, db, func(tx *bolt.Tx) error {
				for _, name := range rawIndexes {
					c := tx.Bucket(name).Cursor()
					var drop [][]byte
					for k, _ := c.First(); k != nil; k, _ = c.Next() {
						if len(k) >= 8 && binary.BigEndian.Uint64(k[len(k)-8:]) == seq {
							drop = append(drop, bytes.Clone(k))
						}
					}
					for _, k := range drop {
						if err := tx.Bucket(name).Delete(k); err != nil {
							return err
						}
					}
				}
				return nil
			})
		},
		SetAnchor: func(t *testing.T, seq uint64, hash string) { setPoint(t, rawAnchor, seq, hash) },
		SetHead:   func(t *testing.T, seq uint64, hash string) { setPoint(t, rawHead, seq, hash) },
	}
}

func TestDB_AccessLogTamper(t *testing.T) {
	storagetest.TestAccessLogTamper(t, func(t *testing.T) (storage.AccessLog, storagetest.AccessTamper) {
		db, _ := openDB(t, &meta.Options{NoSync: true})
		return db, boltTamper(db)
	})
}

// appendN appends n pull records of repo.
func appendN(t testing.TB, db *meta.DB, n int, repo string) []storage.AccessRecord {
	t.Helper()
	var out []storage.AccessRecord
	for len(out) < n {
		batch := make([]storage.AccessRecord, min(n-len(out), 1000))
		for i := range batch {
			batch[i] = storage.AccessRecord{
				Principal: fmt.Sprintf("user%d", (len(out)+i)%10), Address: "192.0.2.1", Action: storage.ActionPull,
				Repository: repo, Reference: "v1", Result: storage.ResultOK, Status: 200,
			}
		}
		recs, err := db.AppendAccess(t.Context(), batch...)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recs...)
	}
	return out
}

// TestDB_AccessFileEdit changes bytes of one record in the database file
// itself while nothing has it open, as someone with the disk would, and
// checks that verification names the record.
func TestDB_AccessFileEdit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := meta.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := appendN(t, db, 20, "team-a/model")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Record 7's encoding starts with the magic and record 6's hash; flip
	// the last byte of its time (one second earlier or later) wherever
	// bbolt has a copy of it.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	prev, _ := hex.DecodeString(recs[5].Hash)
	marker := append([]byte("CAL1"), prev...)
	n := 0
	for i := 0; ; {
		j := bytes.Index(raw[i:], marker)
		if j < 0 {
			break
		}
		at := i + j + len(marker) + 8 + 7 // seq, then the last byte of the seconds
		raw[at] ^= 1
		n++
		i = at
	}
	if n == 0 {
		t.Fatal("record 7 not found in the file")
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	ro, err := meta.OpenReadOnly(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	st, err := ro.VerifyAccess(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.OK || st.Break == nil || st.Break.Seq != 7 {
		t.Fatalf("VerifyAccess after editing record 7 in the file = %+v", st)
	}
	t.Logf("%d copies edited; detected: %s", n, st.Err())
}

func TestDB_OpenReadOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "meta.db")
	if _, err := meta.OpenReadOnly(path, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenReadOnly of a missing file: %v", err)
	}
	db, err := meta.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, db, 3, "r")
	// While the server holds the file, a reader gives up with ErrLocked.
	if _, err := meta.OpenReadOnly(path, &meta.Options{LockTimeout: 50 * time.Millisecond}); !errors.Is(err, meta.ErrLocked) {
		t.Fatalf("OpenReadOnly beside a writer: %v, want ErrLocked", err)
	}
	db.Close()

	ro, err := meta.OpenReadOnly(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	// Two readers at once are fine.
	ro2, err := meta.OpenReadOnly(path, nil)
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	ro2.Close()
	if st, err := ro.VerifyAccess(t.Context()); err != nil || !st.OK || st.Records != 3 {
		t.Fatalf("VerifyAccess read-only = %+v, %v", st, err)
	}
	if _, err := ro.AppendAccess(t.Context(), storage.AccessRecord{Action: storage.ActionPull}); err == nil {
		t.Error("AppendAccess on a read-only database succeeded")
	}

	// A database never written by a cairn with an access log reads as an
	// empty log.
	empty := filepath.Join(dir, "empty.db")
	edb, err := meta.Open(empty, nil)
	if err != nil {
		t.Fatal(err)
	}
	edb.Close()
	ero, err := meta.OpenReadOnly(empty, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ero.Close()
	if st, err := ero.VerifyAccess(t.Context()); err != nil || !st.OK || st.Records != 0 {
		t.Fatalf("VerifyAccess of a database without a log = %+v, %v", st, err)
	}
	n := 0
	if err := ero.Access(t.Context(), storage.AccessFilter{Repository: "r"}, func(storage.AccessRecord) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("Access of a database without a log: %d, %v", n, err)
	}
}

// BenchmarkDB_Access pages 100 records newest first out of 100,000, as the
// web UI does, with and without a filter.
func BenchmarkDB_Access(b *testing.B) {
	path := filepath.Join(b.TempDir(), "meta.db")
	db, err := meta.Open(path, &meta.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for i := range 10 {
		appendN(b, db, 10_000, fmt.Sprintf("team/repo%d", i))
	}
	appendN(b, db, 100, "rare/repo")
	appendN(b, db, 10_000, "team/repo0")
	for _, bc := range []struct {
		name string
		f    storage.AccessFilter
	}{
		{"Newest", storage.AccessFilter{Limit: 100}},
		{"DeepPage", storage.AccessFilter{Limit: 100, Before: 50_000}},
		{"Repository", storage.AccessFilter{Limit: 100, Repository: "team/repo3"}},
		{"RareRepository", storage.AccessFilter{Limit: 100, Repository: "rare/repo"}},
		{"Principal", storage.AccessFilter{Limit: 100, Principal: "user3"}},
		{"ActionScan", storage.AccessFilter{Limit: 100, Action: storage.ActionDenied}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if err := db.Access(b.Context(), bc.f, func(storage.AccessRecord) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("Verify", func(b *testing.B) {
		for b.Loop() {
			if st, err := db.VerifyAccess(b.Context()); err != nil || !st.OK {
				b.Fatal(st, err)
			}
		}
	})
}

// BenchmarkDB_AppendAccess appends batches of 256 records, one transaction
// each, with fsync.
func BenchmarkDB_AppendAccess(b *testing.B) {
	db, err := meta.Open(filepath.Join(b.TempDir(), "meta.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	batch := make([]storage.AccessRecord, 256)
	for i := range batch {
		batch[i] = storage.AccessRecord{Principal: "alice", Address: "192.0.2.1", Action: storage.ActionPull, Repository: "team/repo", Reference: "v1", Result: storage.ResultOK, Status: 200}
	}
	for b.Loop() {
		if _, err := db.AppendAccess(b.Context(), batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
}
