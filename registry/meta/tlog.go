package meta

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/storage"
)

var _ storage.TransparencyLogs = (*DB)(nil)

// Each log keeps two top-level buckets, created by its first leaf (an older
// database needs no migration):
//
//	tlog/<log>/entries   leaf index (8 bytes, big endian) -> entry bytes
//	tlog/<log>/hashes    stored hash index (8 bytes) -> SHA-256 (32 bytes)
//
// The tree size is the number of entries.
func logBuckets(log string) (entries, hashes []byte) {
	return []byte("tlog/" + log + "/entries"), []byte("tlog/" + log + "/hashes")
}

func u64(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// appendLeaf adds data as the next leaf of log inside tx and returns its
// index. It reads O(log n) stored hashes and writes the one or more that
// tlog.StoredHashes says the new leaf completes.
func appendLeaf(tx *bolt.Tx, log string, data []byte) (int64, error) {
	if len(data) > storage.MaxLogEntrySize {
		return 0, fmt.Errorf("meta: log %s: entry of %d bytes, more than %d", log, len(data), storage.MaxLogEntrySize)
	}
	eb, hb := logBuckets(log)
	entries, err := tx.CreateBucketIfNotExists(eb)
	if err != nil {
		return 0, fmt.Errorf("meta: log %s: %w", log, err)
	}
	hashes, err := tx.CreateBucketIfNotExists(hb)
	if err != nil {
		return 0, fmt.Errorf("meta: log %s: %w", log, err)
	}
	n := bucketLogSize(entries)
	stored, err := tlog.StoredHashes(n, data, hashReader(hashes))
	if err != nil {
		return 0, fmt.Errorf("meta: log %s: leaf %d: %w", log, n, err)
	}
	base := tlog.StoredHashIndex(0, n)
	for i, h := range stored {
		if err := hashes.Put(u64(base+int64(i)), h[:]); err != nil {
			return 0, err
		}
	}
	if err := entries.Put(u64(n), data); err != nil {
		return 0, err
	}
	return n, nil
}

// appendEntry appends e to the log of names.
func appendEntry(tx *bolt.Tx, e storage.LogEntry) (int64, error) {
	return appendLeaf(tx, storage.LogNames, storage.EncodeLogEntry(e))
}

func bucketLogSize(entries *bolt.Bucket) int64 {
	k, _ := entries.Cursor().Last()
	if k == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(k)) + 1
}

// hashReader reads stored hashes from a log's hashes bucket.
func hashReader(b *bolt.Bucket) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			var v []byte
			if b != nil {
				v = b.Get(u64(x))
			}
			if len(v) != tlog.HashSize {
				return nil, fmt.Errorf("meta: stored hash %d: %w", x, storage.ErrLogCorrupt)
			}
			copy(out[i][:], v)
		}
		return out, nil
	})
}

// LogSize implements storage.TransparencyLogs.
func (db *DB) LogSize(ctx context.Context, log string) (int64, error) {
	var n int64
	err := db.db.View(func(tx *bolt.Tx) error {
		eb, _ := logBuckets(log)
		if b := tx.Bucket(eb); b != nil {
			n = bucketLogSize(b)
		}
		return nil
	})
	return n, err
}

// LogHashes implements storage.TransparencyLogs.
func (db *DB) LogHashes(ctx context.Context, log string, indexes []int64) ([]tlog.Hash, error) {
	var out []tlog.Hash
	err := db.db.View(func(tx *bolt.Tx) error {
		_, hb := logBuckets(log)
		var err error
		out, err = hashReader(tx.Bucket(hb)).ReadHashes(indexes)
		return err
	})
	return out, err
}

// LogEntries implements storage.TransparencyLogs.
func (db *DB) LogEntries(ctx context.Context, log string, start, end int64) ([][]byte, error) {
	if start < 0 || end < start {
		return nil, fmt.Errorf("meta: log %s: entries [%d, %d): bad range", log, start, end)
	}
	out := make([][]byte, 0, end-start)
	err := db.db.View(func(tx *bolt.Tx) error {
		eb, _ := logBuckets(log)
		b := tx.Bucket(eb)
		if b == nil {
			if end > start {
				return fmt.Errorf("meta: log %s: entry %d: %w", log, start, storage.ErrLogCorrupt)
			}
			return nil
		}
		c := b.Cursor()
		i := start
		for k, v := c.Seek(u64(start)); k != nil && i < end; k, v = c.Next() {
			if int64(binary.BigEndian.Uint64(k)) != i {
				break
			}
			out = append(out, append([]byte(nil), v...))
			i++
		}
		if i != end {
			return fmt.Errorf("meta: log %s: entry %d: %w", log, i, storage.ErrLogCorrupt)
		}
		return nil
	})
	return out, err
}
