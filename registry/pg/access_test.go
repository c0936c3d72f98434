package pg_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"cairn.dev/cairn/registry/pg"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/storage/storagetest"
)

func TestDB_AccessLog(t *testing.T) {
	storagetest.TestAccessLog(t, func(t *testing.T) storage.AccessLog { return openDB(t) })
}

// exec runs SQL behind the store's back, as someone with write access to
// the database would.
func exec(t *testing.T, db *pg.DB, sql string, args ...any) {
	t.Helper()
	if _, err := db.Pool().Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// sqlTamper edits the access log's tables directly.
func sqlTamper(db *pg.DB) storagetest.AccessTamper {
	setPoint := func(t *testing.T, name string, seq uint64, hash string) {
		h, err := hex.DecodeString(hash)
		if err != nil || len(h) != sha256.Size {
			t.Fatalf("bad hash %q", hash)
		}
		exec(t, db, `INSERT INTO access_chain (name, seq, hash) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash`, name, int64(seq), h)
	}
	return storagetest.AccessTamper{
		Edit: func(t *testing.T, seq uint64, edit func(*storage.AccessRecord), rehash bool) {
			var enc []byte
			if err := db.Pool().QueryRow(t.Context(), "SELECT enc FROM access_log WHERE seq = $1", int64(seq)).Scan(&enc); err != nil {
				t.Fatal(err)
			}
			r, err := storage.DecodeAccessRecord(enc)
			if err != nil {
				t.Fatal(err)
			}
			edit(&r)
			enc, err = storage.EncodeAccessRecord(&r)
			if err != nil {
				t.Fatal(err)
			}
			if rehash {
				sum := sha256.Sum256(enc)
				exec(t, db, "UPDATE access_log SET enc = $2, hash = $3 WHERE seq = $1", int64(seq), enc, sum[:])
			} else {
				exec(t, db, "UPDATE access_log SET enc = $2 WHERE seq = $1", int64(seq), enc)
			}
		},
		Delete: func(t *testing.T, seq uint64) {
			exec(t, db, "DELETE FROM access_log WHERE seq = $1", int64(seq))
		},
		Swap: func(t *testing.T, a, b uint64) {
			exec(t, db, `UPDATE access_log l SET hash = o.hash, enc = o.enc, repository = o.repository, principal = o.principal
				FROM access_log o WHERE (l.seq, o.seq) IN (($1, $2), ($2, $1))`, int64(a), int64(b))
		},
		Unindex: func(t *testing.T, seq uint64) {
			exec(t, db, "UPDATE access_log SET repository = NULL, principal = NULL WHERE seq = $1", int64(seq))
		},
		SetAnchor: func(t *testing.T, seq uint64, hash string) { setPoint(t, "anchor", seq, hash) },
		SetHead:   func(t *testing.T, seq uint64, hash string) { setPoint(t, "head", seq, hash) },
	}
}

func TestDB_AccessLogTamper(t *testing.T) {
	storagetest.TestAccessLogTamper(t, func(t *testing.T) (storage.AccessLog, storagetest.AccessTamper) {
		db := openDB(t)
		return db, sqlTamper(db)
	})
}

// TestDB_AccessTwoNodes appends from two stores on one schema, as two
// nodes do, and verifies the one chain.
func TestDB_AccessTwoNodes(t *testing.T) {
	u := newSchema(t)
	nodes := []*pg.DB{openURL(t, u), openURL(t, u)}
	var wg sync.WaitGroup
	const each = 40
	for n, db := range nodes {
		for w := range 4 {
			wg.Go(func() {
				for i := range each {
					r := storage.AccessRecord{Principal: fmt.Sprintf("node%d", n), Action: storage.ActionPull, Result: storage.ResultOK,
						Repository: "team/model", Detail: fmt.Sprintf("worker %d record %d", w, i), Time: time.Now()}
					if _, err := db.AppendAccess(t.Context(), r); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	st, err := nodes[1].VerifyAccess(t.Context())
	if err != nil || !st.OK {
		t.Fatalf("VerifyAccess = %+v, %v", st, err)
	}
	if want := 2 * 4 * each; st.Records != want || st.HeadSeq != uint64(want) {
		t.Errorf("VerifyAccess checked %d records, head %d, want %d", st.Records, st.HeadSeq, want)
	}
}
