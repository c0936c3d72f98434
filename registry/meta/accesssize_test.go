package meta_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage"
)

// BenchmarkAccessLog_Size measures what the access log costs on disk: the
// growth of meta.db per record over 100,000 pull records (a user, an
// address, a repository, a tag and a digest each) appended in batches of
// 256 as the recorder does. It reports bytes per record of the file and
// of the pages bbolt has in use: what --log-retention must be sized by.
func BenchmarkAccessLog_Size(b *testing.B) {
	const records, batch = 100_000, 256
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "meta.db")
		db, err := meta.Open(path, &meta.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		before, _ := os.Stat(path)
		inUse0 := inUse(db)
		recs := make([]storage.AccessRecord, 0, batch)
		t0 := time.Now()
		for i := range records {
			recs = append(recs, storage.AccessRecord{
				Time: t0.Add(time.Duration(i) * time.Millisecond), Principal: fmt.Sprintf("user%03d", i%500),
				Address: fmt.Sprintf("10.%d.%d.%d", i%7, i%200, i%250), Action: storage.ActionPull,
				Repository: fmt.Sprintf("team%02d/model-%03d", i%40, i%300), Reference: fmt.Sprintf("v1.%d.%d", i%20, i%9),
				Digest: digest.FromString(fmt.Sprint(i % 5000)), Result: storage.ResultOK, Status: 200,
			})
			if len(recs) == batch || i == records-1 {
				if _, err := db.AppendAccess(b.Context(), recs...); err != nil {
					b.Fatal(err)
				}
				recs = recs[:0]
			}
		}
		after, _ := os.Stat(path)
		used := inUse(db) - inUse0
		db.Close()
		b.ReportMetric(float64(after.Size()-before.Size())/records, "file-bytes/record")
		b.ReportMetric(float64(used)/records, "inuse-bytes/record")
	}
}

// inUse is the bytes of bbolt pages holding data (branch and leaf pages in
// use, over every bucket).
func inUse(db *meta.DB) int64 {
	var n int64
	db.Bolt().View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, bk *bolt.Bucket) error {
			st := bk.Stats()
			n += int64(st.BranchInuse + st.LeafInuse)
			return nil
		})
	})
	return n
}
